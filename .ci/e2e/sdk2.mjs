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
import { spawn } from "node:child_process";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { check, children, finish, freePort, watchdog, within } from "./harness.mjs";

const bin = process.argv[2];
if (!bin) throw new Error("usage: node sdk2.mjs /path/to/crm-mcp");
const TOKEN = "e2e-token-123456";
const STEP = 15000; // bound on one connect or request

watchdog(120000);

// The sandbox keeps Qyvo's assumed 60 requests/min; this script makes more
// than that in a minute (confirmations look records up), so the limits are
// lifted here: limits are tested in Go, not here.
async function startHTTP() {
  const port = await freePort();
  const proc = spawn(bin, ["--sandbox", "--transport", "http", "--addr", `127.0.0.1:${port}`],
    { env: { ...process.env, MCP_AUTH_TOKENS: TOKEN, LOG_LEVEL: "error", CRM_MCP_SANDBOX_UNLIMITED: "true" }, stdio: ["ignore", "ignore", "inherit"] });
  children.push(proc);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) return base; } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("server did not become healthy in 10 s");
}

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
    ? new StdioClientTransport({ command: bin, args: ["--sandbox"], env: { ...process.env, LOG_LEVEL: "error", CRM_MCP_SANDBOX_UNLIMITED: "true" }, stderr: "ignore" })
    : new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } });
  await within(STEP, client.connect(transport), `${kind} connect at ${rev}`);
  if (asker) { // what the server sends, to tell how the question travelled
    const deliver = transport.onmessage;
    transport.onmessage = (message, extra) => { asker.wire.push(message); return deliver?.call(transport, message, extra); };
  }
  return client;
}

const text = (res) => res.content.map((c) => c.text ?? "").join(" ");

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

// Sends a person confirms (README): the question names the recipient (a
// seeded contact, looked up by phone) and the template with its variables
// filled in; accept sends exactly one message (the sandbox's campaign_sent
// feed shows it), decline sends none and is a result with declined: true,
// not an error. Each call's order number is new, so no send is a duplicate
// of an earlier one (which would be answered without asking).
const EMILY = { name: "Emily Carter", phone: "+14155550101" };
const TEMPLATE = "Hi {{1}}, your order {{2}} is confirmed. We will message you when it ships."; // order_confirmation (en), seeded

// asker answers every question with action (accept ticks confirm) and
// remembers the questions (and, once connected, every message the server
// sends: wire).
function asker(action) {
  const asked = [];
  return {
    asked,
    wire: [],
    handler: async (req) => {
      asked.push(req.params.message);
      return action === "accept" ? { action, content: { confirm: true } } : { action };
    },
  };
}

// sentTo: the message ids of the campaign_sent feed's records for phone.
async function sentTo(c, phone, label) {
  const res = await within(STEP, c.callTool({ name: "qyvo_list_recent", arguments: { event: "campaign_sent", limit: 100 } }), `${label} qyvo_list_recent`);
  if (res.isError) throw new Error(`qyvo_list_recent: ${text(res)}`);
  return res.structuredContent.events.filter((e) => e.phone === phone).map((e) => e.message_id);
}

async function confirmedSends(kind, base, rev) {
  for (const action of ["accept", "decline"]) {
    const label = `sdk2 ${kind} ${rev}: confirm ${action}`;
    const person = asker(action);
    let c;
    try {
      c = await connect(kind, base, rev, person);
      await within(STEP, c.listTools(), `${label} tools/list`);
      const order = `#${Math.floor(100000 + Math.random() * 900000)}`;
      const before = await sentTo(c, EMILY.phone, label);
      const res = await within(STEP, c.callTool({ name: "qyvo_send_template_message", arguments: { phone: EMILY.phone, template: "order_confirmation", variables: ["Emily", order] } }), `${label} send`);
      const fresh = (await sentTo(c, EMILY.phone, label)).filter((id) => !before.includes(id));
      const rendered = TEMPLATE.replace("{{1}}", "Emily").replace("{{2}}", order);
      check(`${label}: asked once, naming the recipient and the rendered template`,
        person.asked.length === 1 && person.asked[0].includes(`${EMILY.name}, ${EMILY.phone}`) && person.asked[0].includes(rendered),
        JSON.stringify(person.asked));
      // 2026-07-28: the call is answered input_required and retried by the
      // client with the answer; 2025-x: the server sends elicitation/create.
      const inputRequired = person.wire.filter((m) => m.result?.resultType === "input_required").length;
      const elicitations = person.wire.filter((m) => m.method === "elicitation/create").length;
      check(`${label}: the question came as ${rev === "2026-07-28" ? "an input_required result" : "an elicitation/create request"}`,
        rev === "2026-07-28" ? inputRequired === 1 && elicitations === 0 : inputRequired === 0 && elicitations === 1,
        `input_required results ${inputRequired}, elicitation/create requests ${elicitations}`);
      const out = res.structuredContent ?? {};
      if (action === "accept") {
        check(`${label}: sent, and qyvo_list_recent shows exactly one new message`,
          !res.isError && out.declined === undefined && fresh.length === 1 && out.id === fresh[0], `${JSON.stringify(res).slice(0, 300)} new: ${JSON.stringify(fresh)}`);
      } else {
        check(`${label}: declined: true, not an error, and no new message`,
          !res.isError && out.declined === true && typeof out.note === "string" && fresh.length === 0, `${JSON.stringify(res).slice(0, 300)} new: ${JSON.stringify(fresh)}`);
      }
    } catch (e) {
      check(`${label}: ran without exceptions`, false, e.stack);
    } finally {
      await c?.close().catch(() => {});
    }
  }
}

// Event subscriptions (README "What an agent sees of events"): a client
// following events://vivre (subscriptions/listen at 2026-07-28, whose
// acknowledgement lists it; resources/subscribe before) is sent
// notifications/resources/updated for it once a Vivre contact it creates
// is in the event log, and crm_list_events then lists the contact.created
// event.
async function eventSubscription(kind, base, rev) {
  const label = `sdk2 ${kind} ${rev}: events://vivre`;
  let c, sub;
  try {
    c = await connect(kind, base, rev);
    const updated = [];
    let wake = () => {};
    c.setNotificationHandler("notifications/resources/updated", (n) => { updated.push(n.params.uri); wake(); });
    if (rev === "2026-07-28") {
      sub = await within(STEP, c.listen({ resourceSubscriptions: ["events://vivre", "vivre://contacts/cnt_8800"] }), `${label} subscriptions/listen`);
      check(`${label}: subscriptions/listen acknowledges events://vivre alone`,
        JSON.stringify(sub.honoredFilter.resourceSubscriptions) === JSON.stringify(["events://vivre"]), JSON.stringify(sub.honoredFilter));
    } else {
      await within(STEP, c.subscribeResource({ uri: "events://vivre" }), `${label} resources/subscribe`);
    }
    const email = `sdk2-sub-${kind}-${rev}@events-${Date.now()}.example`;
    const created = await within(STEP, c.callTool({ name: "vivre_create_contact", arguments: { name: `Subscribed ${kind} ${rev}`, email } }), `${label} vivre_create_contact`);
    const contact = created.structuredContent ?? {};
    const start = Date.now();
    await within(10000, new Promise((resolve) => { wake = () => updated.includes("events://vivre") && resolve(); wake(); }), `${label} notifications/resources/updated`)
      .catch(() => {});
    check(`${label}: notifications/resources/updated for events://vivre within 10 s of vivre_create_contact`,
      !created.isError && updated.includes("events://vivre"), `after ${Date.now() - start} ms: ${JSON.stringify(updated)}; ${text(created).slice(0, 200)}`);
    let page, found;
    for (const until = Date.now() + 5000; ;) {
      page = (await within(STEP, c.callTool({ name: "crm_list_events", arguments: { vendor: "vivre", types: ["contact.created"] } }), `${label} crm_list_events`)).structuredContent;
      found = page?.events?.find((e) => e.record_id === contact.id);
      if (found || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    check(`${label}: crm_list_events then lists the contact.created event`,
      found?.type === "contact.created" && found.vendor === "vivre" && found.record_uri === `vivre://contacts/${contact.id}`, JSON.stringify(page).slice(0, 400));
  } catch (e) {
    check(`${label}: ran without exceptions`, false, e.stack);
  } finally {
    await sub?.close().catch(() => {});
    await c?.close().catch(() => {});
  }
}

const base = await startHTTP();
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
    await confirmedSends(kind, base, rev);
    if (kind === "stdio" || rev === "2026-07-28") await eventSubscription(kind, base, rev);
  }
}
finish();
