// End-to-end check of crm-mcp with real MCP clients, as a new user would
// use it: the official TypeScript SDK client and MCP Inspector's CLI, over
// stdio, legacy SSE (/sse) and streamable HTTP (/mcp), against --sandbox:
// tools, resources, resource templates, completion and prompts; sends a
// person confirms (a client declaring elicitation, its elicitation/create
// handler accepting or declining); and subscriptions to events:// resources
// (resources/subscribe on the session transports, stdio and /sse).
//
//   node e2e.mjs /path/to/crm-mcp
//
// Prints one line per check and "N passed, M failed"; exits non-zero on any failure.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { CallToolRequestSchema, ElicitRequestSchema, ListToolsRequestSchema, ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { check, confirmedSends, eventSubscription, finish, json, startServer, text, TOKEN, within } from "./harness.mjs";

const bin = process.argv[2];
if (!bin) throw new Error("usage: node e2e.mjs /path/to/crm-mcp");
const STEP = 20000; // bound on one connect, request or wait in the checks that bound theirs

// connect opens a client over kind; with asker, one that declares the
// elicitation capability (form mode) and answers elicitation/create with it.
async function connect(kind, base, asker) {
  const client = asker
    ? new Client({ name: "crm-mcp-e2e", version: "1.0.0" }, { capabilities: { elicitation: { form: {} } } })
    : new Client({ name: "crm-mcp-e2e", version: "1.0.0" });
  if (asker) client.setRequestHandler(ElicitRequestSchema, asker.handler);
  const headers = { Authorization: `Bearer ${TOKEN}` };
  let transport;
  if (kind === "stdio") transport = new StdioClientTransport({ command: bin, args: ["--sandbox"], env: { ...process.env, LOG_LEVEL: "warn" }, stderr: "ignore" });
  if (kind === "sse") transport = new SSEClientTransport(new URL(`${base}/sse`), { requestInit: { headers }, eventSourceInit: { fetch: (u, i) => fetch(u, { ...i, headers: { ...i?.headers, ...headers } }) } });
  if (kind === "http") transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } });
  await within(STEP, client.connect(transport), `${kind} connect`);
  return client;
}

const call = (c, name, args) => c.callTool({ name, arguments: args });

// Issue 2: the whole Vivre flow, and bad input named back to the agent.
async function vivreFlow(kind, c) {
  const tools = (await c.listTools()).tools.map((t) => t.name);
  const vivre = ["vivre_list_contacts", "vivre_get_contact", "vivre_create_contact", "vivre_create_deal", "vivre_update_deal", "vivre_log_activity"];
  check(`${kind}: lists the six Vivre tools`, vivre.every((n) => tools.includes(n)), tools.join(","));
  const email = `e2e-${kind}@orchid-${Date.now()}.example`;
  const created = await call(c, "vivre_create_contact", { name: `E2E ${kind}`, email, company: `Orchid ${kind}`, stage: "new", tags: ["e2e"] });
  const contact = json(created);
  check(`${kind}: create contact`, !created.isError && contact.id?.startsWith("cnt_"), text(created));
  const found = json(await call(c, "vivre_list_contacts", { search: email }));
  check(`${kind}: find it by search`, found.contacts?.length === 1 && found.contacts[0].id === contact.id, JSON.stringify(found));
  const act = await call(c, "vivre_log_activity", { contact_id: contact.id, type: "call", note: "Discovery call, 20 minutes" });
  check(`${kind}: log a call`, !act.isError && json(act).type === "call", text(act));
  const deal = json(await call(c, "vivre_create_deal", { contact_id: contact.id, title: "Annual plan", value: 650000 }));
  check(`${kind}: create a deal`, deal.id?.startsWith("dl_") && deal.value === 650000, JSON.stringify(deal));
  const won = json(await call(c, "vivre_update_deal", { id: deal.id, stage: "won" }));
  check(`${kind}: move it to won`, won.stage === "won" && !!won.closed_at, JSON.stringify(won));
  const seen = new Set(); let cursor, pages = 0, total = 0;
  do {
    const page = json(await call(c, "vivre_list_contacts", cursor ? { limit: 2, cursor } : { limit: 2 }));
    total = page.total; pages++;
    page.contacts.forEach((x) => seen.add(x.id));
    cursor = page.next_cursor;
  } while (cursor && pages < 100);
  check(`${kind}: page through contacts two at a time`, seen.size === total && pages === Math.ceil(total / 2), `${seen.size}/${total} in ${pages} pages`);
  const bad = [
    ["invalid email", "vivre_create_contact", { name: "A", email: "not-an-email" }, "email"],
    ["missing name", "vivre_create_contact", { email: "a@b.example" }, "name"],
    ["unknown enum value", "vivre_log_activity", { contact_id: contact.id, type: "sms" }, "type"],
    ["unknown id", "vivre_get_contact", { id: "cnt_does_not_exist" }, "no such record"],
  ];
  for (const [what, tool, args, names] of bad) {
    const r = await call(c, tool, args);
    check(`${kind}: ${what} is a tool error naming ${names}`, r.isError === true && text(r).includes(names), text(r));
  }
}

// Issue 3: every vendor's tools work; upsert, delete, phone, paging.
async function vendorChecks(kind, c) {
  const tools = (await c.listTools()).tools;
  check(`${kind}: lists all 46 vendor tools`, tools.filter((t) => !t.name.startsWith("crm_")).length === 46, String(tools.length));
  const phone = "+14155550" + String(100 + Math.floor(Math.random() * 800));
  const a = json(await call(c, "qyvo_create_contact", { phone, name: "Upsert One" }));
  const b = json(await call(c, "qyvo_create_contact", { phone, name: "Upsert Two" }));
  check(`${kind}: qyvo upsert returns the same id`, a.contact?.id && a.contact.id === b.contact?.id, JSON.stringify([a, b]));
  const chatbot = json(await call(c, "nexvio_list_contacts", { limit: 1 })).contacts[0].chatbot_id;
  const nc = json(await call(c, "nexvio_create_contact", { chatbot_id: chatbot, name: "Delete Me", email: "del@me.example" }));
  const del = await call(c, "nexvio_delete_contact", { id: nc.id });
  const gone = await call(c, "nexvio_get_contact", { id: nc.id });
  check(`${kind}: a deleted nexvio contact reads as not found`, !del.isError && gone.isError && /not found|no such record/i.test(text(gone)), text(del) + " | " + text(gone));
  const badPhone = await call(c, "vixiees_create_contact", { name: "P", phone: "555-1234" });
  check(`${kind}: a bad phone names phone`, badPhone.isError && text(badPhone).includes("phone"), text(badPhone));
  // Every list tool that pages returns next_cursor.
  for (const t of tools) {
    const props = t.inputSchema.properties ?? {};
    if (!("cursor" in props) || !t.name.includes("_list_") && !t.name.includes("_search_")) continue;
    const args = { limit: Math.max(1, props.limit?.minimum ?? 1) };
    if ((t.inputSchema.required ?? []).includes("contact_id")) args.contact_id = "contact_126abc"; // nexvio_list_conversations: a seeded contact with several
    const res = await call(c, t.name, args);
    check(`${kind}: ${t.name} returns next_cursor`, !res.isError && typeof json(res).next_cursor === "string" && json(res).next_cursor.length > 0, text(res).slice(0, 200));
  }
}

// Issue 4: one message for two identical sends; allow_duplicate sends again.
async function duplicateSend(kind, c) {
  const templates = json(await call(c, "qyvo_list_templates", {}));
  const tpl = templates.templates.find((t) => t.status === "approved");
  const args = { phone: "+14155550" + String(100 + Math.floor(Math.random() * 800)), template: tpl.name, language: tpl.language, variables: Array(tpl.variables).fill("Asha") };
  const first = await call(c, "qyvo_send_template_message", args);
  const second = await call(c, "qyvo_send_template_message", args);
  const third = await call(c, "qyvo_send_template_message", { ...args, allow_duplicate: true });
  check(`${kind}: first send goes out`, !first.isError && json(first).duplicate !== true, text(first));
  check(`${kind}: identical second send is the first's result, duplicate: true`, json(second).duplicate === true, text(second));
  check(`${kind}: allow_duplicate sends again`, !third.isError && json(third).duplicate !== true, text(third));
}

// Output schemas: every tool declares one, and this SDK's callTool checks
// each result's structuredContent against it (after listTools), throwing
// on a mismatch. A success passes; an error (isError, no structuredContent,
// its facts in _meta) comes back as a result, not a throw.
async function outputSchemas(kind, c) {
  const tools = (await c.listTools()).tools; // caches the validators callTool uses
  const without = tools.filter((t) => t.outputSchema?.type !== "object").map((t) => t.name);
  check(`${kind}: every tool declares an object outputSchema`, tools.length > 0 && without.length === 0, without.join(","));
  try {
    const ok = await call(c, "vivre_get_contact", { id: "cnt_8800" });
    check(`${kind}: a success is validated against its outputSchema`,
      !!c.getToolOutputValidator("vivre_get_contact") && !ok.isError && ok.structuredContent?.id === "cnt_8800", text(ok).slice(0, 200));
  } catch (e) {
    check(`${kind}: a success is validated against its outputSchema`, false, e.message);
  }
  try {
    const bad = await call(c, "vivre_get_contact", { id: "cnt_does_not_exist" });
    const facts = bad._meta?.["crm-mcp/error"];
    check(`${kind}: an error from a tool with an outputSchema comes back without throwing`,
      bad.isError === true && bad.structuredContent === undefined && facts?.kind === "not_found" && text(bad) === facts.error, JSON.stringify(bad).slice(0, 300));
  } catch (e) {
    check(`${kind}: an error from a tool with an outputSchema comes back without throwing`, false, e.message);
  }
}

// Resources, resource templates, completion and prompts. This SDK (1.32.2)
// has no option to choose a protocol revision: its initialize always asks
// for its latest, 2025-11-25, and crm-mcp answers with it (over HTTP the
// transport then sends it as MCP-Protocol-Version, checked below).
async function resourcesAndCompletions(kind, c) {
  if (kind === "http") check(`${kind}: negotiated protocol revision 2025-11-25`, c.transport?.protocolVersion === "2025-11-25", String(c.transport?.protocolVersion));
  const resources = (await c.listResources()).resources.map((r) => r.uri);
  check(`${kind}: resources/list has the reference lists`, ["qyvo://templates", "vixiees://templates", "qyvo://sequences", "ralivi://organization"].every((u) => resources.includes(u)), resources.join(","));
  const templates = (await c.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
  check(`${kind}: resources/templates/list has the record templates`,
    ["vivre://contacts/{id}", "qyvo://contacts/{id}", "nexvio://contacts/{id}/conversations", "vixiees://recordings/{id}"].every((u) => templates.includes(u)), templates.join(","));
  const read = await c.readResource({ uri: "vivre://contacts/cnt_8800" });
  const body = read.contents[0];
  check(`${kind}: vivre://contacts/cnt_8800 reads as application/json`,
    read.contents.length === 1 && body.uri === "vivre://contacts/cnt_8800" && body.mimeType === "application/json" && JSON.parse(body.text).id === "cnt_8800", JSON.stringify(read).slice(0, 300));
  let missing = "";
  try { await c.readResource({ uri: "vivre://contacts/cnt_does_not_exist" }); } catch (e) { missing = e.message; }
  check(`${kind}: reading a missing contact is an error that says so`, missing.includes("no such record"), missing || "no error");
  const ids = (await c.complete({ ref: { type: "ref/resource", uri: "vivre://contacts/{id}" }, argument: { name: "id", value: "pri" } })).completion.values;
  const first = ids.length ? JSON.parse((await c.readResource({ uri: `vivre://contacts/${ids[0]}` })).contents[0].text) : {};
  check(`${kind}: "pri" completes the {id} of vivre://contacts/{id} to a Priya`, ids.length > 0 && /^pri/i.test(first.name ?? ""), `${JSON.stringify(ids)} ${first.name}`);
  const names = (await c.complete({ ref: { type: "ref/prompt", name: "log_call" }, argument: { name: "contact", value: "priya" } })).completion.values;
  check(`${kind}: "priya" completes log_call's contact`, names.includes("Priya Kapoor"), JSON.stringify(names));
  const prompts = (await c.listPrompts()).prompts.map((p) => p.name);
  const got = await c.getPrompt({ name: "log_call", arguments: { contact: "Priya Kapoor", notes: "Wants the annual plan." } });
  check(`${kind}: prompts/list and prompts/get log_call`, prompts.includes("log_call") && got.messages[0]?.content?.text?.includes("Call with: Priya Kapoor"), JSON.stringify(got).slice(0, 300));
}

// Why errors carry no structuredContent (tools package doc): this SDK's
// callTool validates an error's structuredContent against the success
// schema and throws, so the caller never sees the error.
async function sdkValidatesErrors() {
  const probe = new Server({ name: "probe", version: "1" }, { capabilities: { tools: {} } });
  probe.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [{ name: "probe", inputSchema: { type: "object" },
    outputSchema: { type: "object", properties: { id: { type: "string" } }, required: ["id"] } }] }));
  probe.setRequestHandler(CallToolRequestSchema, async (req) => ({ isError: true, content: [{ type: "text", text: "failed" }],
    ...(req.params.arguments?.structured ? { structuredContent: { error: "failed" } } : {}) }));
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await probe.connect(serverSide);
  const c = new Client({ name: "probe", version: "1" });
  await c.connect(clientSide);
  await c.listTools();
  let threw = "";
  try { await c.callTool({ name: "probe", arguments: { structured: true } }); } catch (e) { threw = e.message; }
  check("sdk: an error whose structuredContent misses the outputSchema throws in callTool", threw.includes("output schema"),
    "it did not throw: this SDK skips errors now; revisit the tools package doc");
  const plain = await c.callTool({ name: "probe", arguments: {} });
  check("sdk: an error without structuredContent is returned", plain.isError === true && plain.content[0].text === "failed", JSON.stringify(plain));
  await c.close();
}

// Sends a person confirms (harness.mjs): over every transport, each client
// asked through elicitation/create.
const confirmed = (kind, base) => confirmedSends(kind, { connect: (person) => connect(kind, base, person), step: STEP });

// Event subscriptions (harness.mjs), with resources/subscribe: on the
// session transports (stdio, /sse); stateless /mcp at 2025-11-25 keeps no
// session to notify.
const events = (kind, base) => eventSubscription(kind, {
  connect: () => connect(kind, base),
  follow: async (c, name, updated) => {
    check(`${name}: the server offers resource subscriptions`, c.getServerCapabilities()?.resources?.subscribe === true, JSON.stringify(c.getServerCapabilities()?.resources));
    c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updated(n.params.uri));
    await within(STEP, c.subscribeResource({ uri: "events://vivre" }), `${name} resources/subscribe`);
  },
  step: STEP,
});

async function inspector(args, label, expect) {
  try {
    const { stdout } = await promisify(execFile)("npx", ["mcp-inspector", "--cli", ...args], { timeout: 60000, env: { ...process.env, LOG_LEVEL: "error" } });
    check(`inspector ${label}`, expect(stdout), stdout.slice(0, 300));
  } catch (e) {
    check(`inspector ${label}`, false, String(e.stderr ?? e).slice(0, 300));
  }
}

await sdkValidatesErrors();
const { proc, base } = await startServer(bin, ["--sandbox", "--transport", "http"], { ...process.env, MCP_AUTH_TOKENS: TOKEN, LOG_LEVEL: "warn" });
try {
  for (const kind of ["stdio", "sse", "http"]) {
    const c = await connect(kind, base);
    try {
      await outputSchemas(kind, c);
      await resourcesAndCompletions(kind, c);
      await vivreFlow(kind, c);
      await vendorChecks(kind, c);
      await duplicateSend(kind, c);
    } catch (e) {
      check(`${kind}: ran without exceptions`, false, e.stack);
    } finally {
      await c.close();
    }
    await confirmed(kind, base);
    if (kind !== "http") await events(kind, base);
  }
  // Without a token the HTTP endpoints refuse.
  const noTok = await fetch(`${base}/mcp`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
  check("http: no token is 401 with WWW-Authenticate", noTok.status === 401 && !!noTok.headers.get("www-authenticate"), String(noTok.status));
  const auth = ["--header", `Authorization: Bearer ${TOKEN}`];
  const sixVivre = (s) => ["vivre_list_contacts", "vivre_get_contact", "vivre_create_contact", "vivre_create_deal", "vivre_update_deal", "vivre_log_activity"].every((n) => s.includes(n));
  const getContact = ["--method", "tools/call", "--tool-name", "vivre_get_contact", "--tool-arg", "id=cnt_8800"];
  await inspector([bin, "--sandbox", "--method", "tools/list"], "stdio tools/list", sixVivre);
  await inspector([bin, "--sandbox", ...getContact], "stdio tools/call", (s) => s.includes("Rahul Sharma"));
  await inspector([`${base}/mcp`, "--transport", "http", ...auth, "--method", "tools/list"], "/mcp tools/list", sixVivre);
  await inspector([`${base}/mcp`, "--transport", "http", ...auth, ...getContact], "/mcp tools/call", (s) => s.includes("Rahul Sharma"));
  await inspector([`${base}/sse`, "--transport", "sse", ...auth, "--method", "tools/list"], "/sse tools/list", sixVivre);
  await inspector([`${base}/sse`, "--transport", "sse", ...auth, ...getContact], "/sse tools/call", (s) => s.includes("Rahul Sharma"));
} finally {
  proc.kill("SIGTERM");
}
finish();
