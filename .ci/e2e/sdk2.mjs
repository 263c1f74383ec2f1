// End-to-end check of crm-mcp with the official TypeScript SDK's v2 client
// (@modelcontextprotocol/client), the one that speaks 2026-07-28, at each
// protocol revision it can be asked for, over stdio and streamable HTTP
// (/mcp), against --sandbox: tools (output schemas, a success with
// structured content, a failure as a result), resources, resource
// templates, a read, completion and prompts; sends a person confirms (a
// client declaring elicitation, its elicitation/create handler accepting or
// declining: at 2026-07-28 the server answers input_required and the client
// fulfils it through that same handler and retries, at 2025-x the server
// sends elicitation/create); and subscriptions to events://vivre
// (subscriptions/listen at 2026-07-28, resources/subscribe before it over
// stdio: stateless /mcp at 2025-x keeps no session to notify).
//
// The v1 SDK in e2e.mjs (@modelcontextprotocol/sdk 1.32.2) has no way to
// choose a revision: it always asks for 2025-11-25. This client does:
//   2025-06-18  supportedProtocolVersions: ["2025-06-18"] (initialize)
//   2025-11-25  the default (initialize, its latest 2025 revision)
//   2026-07-28  versionNegotiation: { mode: { pin: "2026-07-28" } }
//               (server/discover, then per-request _meta, no initialize)
// and getNegotiatedProtocolVersion() says what it settled on.
//
//   node sdk2.mjs /path/to/crm-mcp
//
// Builds nothing. Prints one line per check and "N passed, M failed"; exits
// non-zero on any failure. Every wait is bounded; the server is killed on exit.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { check, confirmedSends, eventSubscription, finish, startServer, text, TOKEN, watchdog, within } from "./harness.mjs";

const bin = process.argv[2];
if (!bin) throw new Error("usage: node sdk2.mjs /path/to/crm-mcp");
const STEP = 15000; // bound on one connect or request

watchdog(120000);

// The sandbox keeps Qyvo's assumed 60 requests/min; this script makes more
// than that in a minute (confirmations look records up), so the limits are
// lifted here (over stdio and HTTP alike): limits are tested in Go, not here.
const ENV = { ...process.env, LOG_LEVEL: "error", CRM_MCP_SANDBOX_UNLIMITED: "true" };

const REVISIONS = {
  "2025-06-18": { supportedProtocolVersions: ["2025-06-18"] },
  "2025-11-25": {},
  "2026-07-28": { versionNegotiation: { mode: { pin: "2026-07-28" } } },
};

// connect opens a client at rev over kind; with asker, one that declares
// the elicitation capability (form mode) and answers elicitation/create
// with it.
async function connect(kind, base, rev, asker) {
  const options = asker ? { ...REVISIONS[rev], capabilities: { elicitation: { form: {} } } } : REVISIONS[rev];
  const client = new Client({ name: "crm-mcp-e2e-sdk2", version: "1.0.0" }, options);
  if (asker) client.setRequestHandler("elicitation/create", asker.handler);
  const transport = kind === "stdio"
    ? new StdioClientTransport({ command: bin, args: ["--sandbox"], env: ENV, stderr: "ignore" })
    : new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } });
  await within(STEP, client.connect(transport), `${kind} connect at ${rev}`);
  if (asker) { // what the server sends, to tell how the question travelled
    const deliver = transport.onmessage;
    transport.onmessage = (message, extra) => { asker.wire.push(message); return deliver?.call(transport, message, extra); };
  }
  return client;
}

async function checks(label, c, rev) {
  const step = (p, what) => within(STEP, p, `${label} ${what}`);
  check(`${label}: settled on ${rev}`, c.getNegotiatedProtocolVersion() === rev, String(c.getNegotiatedProtocolVersion()));

  const tools = (await step(c.listTools(), "tools/list")).tools;
  const without = tools.filter((t) => t.outputSchema?.type !== "object").map((t) => t.name);
  check(`${label}: tools/list, every tool with an object outputSchema`, tools.length > 40 && without.length === 0, `${tools.length} tools; without: ${without.join(",")}`);
  try {
    const ok = await step(c.callTool({ name: "vivre_get_contact", arguments: { id: "cnt_8800" } }), "vivre_get_contact");
    check(`${label}: vivre_get_contact succeeds with structured content`, !ok.isError && ok.structuredContent?.id === "cnt_8800", text(ok).slice(0, 200));
  } catch (e) {
    check(`${label}: vivre_get_contact succeeds with structured content`, false, e.message);
  }
  try {
    const bad = await step(c.callTool({ name: "vivre_get_contact", arguments: { id: "cnt_does_not_exist" } }), "failing call");
    check(`${label}: a failing call is a result with isError, not a throw`,
      bad.isError === true && bad.structuredContent === undefined && bad._meta?.["crm-mcp/error"]?.kind === "not_found" && text(bad).includes("no such record"), JSON.stringify(bad).slice(0, 300));
  } catch (e) {
    check(`${label}: a failing call is a result with isError, not a throw`, false, e.message);
  }

  const resources = (await step(c.listResources(), "resources/list")).resources.map((r) => r.uri);
  check(`${label}: resources/list`, ["qyvo://templates", "ralivi://organization"].every((u) => resources.includes(u)), resources.join(","));
  const templates = (await step(c.listResourceTemplates(), "resources/templates/list")).resourceTemplates.map((t) => t.uriTemplate);
  check(`${label}: resources/templates/list`, ["vivre://contacts/{id}", "nexvio://contacts/{id}/conversations"].every((u) => templates.includes(u)), templates.join(","));
  const read = await step(c.readResource({ uri: "vivre://contacts/cnt_8800" }), "resources/read");
  const body = read.contents[0];
  check(`${label}: vivre://contacts/cnt_8800 reads as application/json`,
    read.contents.length === 1 && body.mimeType === "application/json" && JSON.parse(body.text).id === "cnt_8800", JSON.stringify(read).slice(0, 300));
  const ids = (await step(c.complete({ ref: { type: "ref/resource", uri: "vivre://contacts/{id}" }, argument: { name: "id", value: "pri" } }), "completion/complete")).completion.values;
  const first = ids.length ? JSON.parse((await step(c.readResource({ uri: `vivre://contacts/${ids[0]}` }), "resources/read")).contents[0].text) : {};
  check(`${label}: "pri" completes the {id} of vivre://contacts/{id} to a Priya`, ids.length > 0 && /^pri/i.test(first.name ?? ""), `${JSON.stringify(ids)} ${first.name}`);

  const prompts = (await step(c.listPrompts(), "prompts/list")).prompts.map((p) => p.name);
  const got = await step(c.getPrompt({ name: "log_call", arguments: { contact: "Priya Kapoor", notes: "Wants the annual plan." } }), "prompts/get");
  check(`${label}: prompts/list and prompts/get log_call`, prompts.includes("log_call") && got.messages[0]?.content?.text?.includes("Call with: Priya Kapoor"), JSON.stringify(got).slice(0, 300));
}

// This client's results are read from structuredContent alone (no fallback
// to parsing the text, as harness.mjs's json would).
const structured = (res) => res.structuredContent;

// Sends a person confirms (harness.mjs), and how the question travelled:
// at 2026-07-28 the call is answered input_required and retried by the
// client with the answer; at 2025-x the server sends elicitation/create.
const confirmed = (kind, base, rev) => confirmedSends(`sdk2 ${kind} ${rev}`, {
  connect: (person) => connect(kind, base, rev, person),
  structured,
  asked: (name, person) => {
    const inputRequired = person.wire.filter((m) => m.result?.resultType === "input_required").length;
    const elicitations = person.wire.filter((m) => m.method === "elicitation/create").length;
    check(`${name}: the question came as ${rev === "2026-07-28" ? "an input_required result" : "an elicitation/create request"}`,
      rev === "2026-07-28" ? inputRequired === 1 && elicitations === 0 : inputRequired === 0 && elicitations === 1,
      `input_required results ${inputRequired}, elicitation/create requests ${elicitations}`);
  },
  step: STEP,
});

// Event subscriptions (harness.mjs): subscriptions/listen at 2026-07-28,
// whose acknowledgement lists events://vivre alone; resources/subscribe
// before it.
const events = (kind, base, rev) => eventSubscription(`sdk2 ${kind} ${rev}`, {
  connect: () => connect(kind, base, rev),
  follow: async (c, name, updated) => {
    c.setNotificationHandler("notifications/resources/updated", (n) => updated(n.params.uri));
    if (rev !== "2026-07-28") {
      await within(STEP, c.subscribeResource({ uri: "events://vivre" }), `${name} resources/subscribe`);
      return undefined;
    }
    const sub = await within(STEP, c.listen({ resourceSubscriptions: ["events://vivre", "vivre://contacts/cnt_8800"] }), `${name} subscriptions/listen`);
    check(`${name}: subscriptions/listen acknowledges events://vivre alone`,
      JSON.stringify(sub.honoredFilter.resourceSubscriptions) === JSON.stringify(["events://vivre"]), JSON.stringify(sub.honoredFilter));
    return sub;
  },
  structured,
  step: STEP,
});

const { base } = await startServer(bin, ["--sandbox", "--transport", "http"], { ...ENV, MCP_AUTH_TOKENS: TOKEN });
for (const kind of ["stdio", "http"]) {
  for (const rev of Object.keys(REVISIONS)) {
    const label = `sdk2 ${kind} ${rev}`;
    let c;
    try {
      c = await connect(kind, base, rev);
      await checks(label, c, rev);
    } catch (e) {
      check(`${label}: ran without exceptions`, false, e.stack);
    } finally {
      await c?.close().catch(() => {});
    }
    await confirmed(kind, base, rev);
    if (kind === "stdio" || rev === "2026-07-28") await events(kind, base, rev);
  }
}
finish();
