// What the end-to-end scripts here (and ../conformance/run.mjs) share:
// checks and their tally (one line each, then "N passed, M failed"),
// bounded waits, free loopback ports, crm-mcp started over HTTP, child
// processes that die with the script, and the checks that e2e.mjs (SDK v1)
// and sdk2.mjs (SDK v2) both make: sends a person confirms and event
// subscriptions. Node.js built-ins only: run.mjs imports this from a
// directory whose node_modules are not these.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { basename } from "node:path";

// TOKEN is the static bearer token the scripts start crm-mcp with (MCP_AUTH_TOKENS).
export const TOKEN = "e2e-token-123456";

// json is a tool result's structured content, or its text parsed as JSON;
// text is all its text content.
export const json = (res) => res.structuredContent ?? JSON.parse(res.content[0].text);
export const text = (res) => res.content.map((c) => c.text ?? "").join(" ");
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let passed = 0, failed = 0;

export function check(name, cond, detail = "") {
  if (cond) { passed++; console.log(`ok   ${name}`); }
  else { failed++; console.log(`FAIL ${name} ${detail}`); }
}

// children are killed however the script leaves: normal end, exception,
// signal or the watchdog.
export const children = [];
process.on("exit", () => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL"); });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

// watchdog fails the whole run if it takes over ms; with tally (the
// default) it also prints the tally of check(), counting itself as a failure.
export function watchdog(ms, { tally = true } = {}) {
  setTimeout(() => {
    console.log(`FAIL the whole run took over ${ms / 1000} s`);
    if (tally) console.log(`${passed} passed, ${failed + 1} failed`);
    process.exit(1);
  }, ms).unref();
}

export function within(ms, promise, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().on("error", reject).listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// startServer runs `bin ...args --addr 127.0.0.1:<port>` (port: a free
// one unless given) with exactly env, as a child, and waits up to 10 s for
// its /healthz to answer 200 (each try bounded to 1 s); it fails as soon as
// the child exits or cannot be started. It returns the child and its base URL.
export async function startServer(bin, args, env, port) {
  port ??= await freePort();
  const proc = spawn(bin, [...args, "--addr", `127.0.0.1:${port}`], { env, stdio: ["ignore", "ignore", "inherit"] });
  children.push(proc);
  let gone;
  const ended = new Promise((resolve) => {
    proc.on("error", (e) => { gone ??= `could not be started: ${e.message}`; resolve(); });
    proc.once("exit", (code, signal) => { gone ??= `exited with ${signal ?? code} before it was healthy`; resolve(); });
  });
  const base = `http://127.0.0.1:${port}`;
  for (const until = Date.now() + 10000; !gone && Date.now() < until;) {
    try { if ((await Promise.race([fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) }), ended]))?.ok && !gone) return { proc, base }; } catch {}
    await Promise.race([sleep(100), ended]);
  }
  throw new Error(`${basename(bin)} ${gone ?? "did not become healthy in 10 s"}`);
}

// Sends a person confirms (README): a client that declares elicitation is
// asked before qyvo_send_template_message goes out. The question names the
// recipient (a seeded contact, looked up by phone) and the template with its
// variables filled in; accept sends exactly one message (the sandbox's
// campaign_sent feed shows it), decline sends none and is a result with
// declined: true, not an error. Each call's order number is new, so no send
// is a duplicate of an earlier one (which would be answered without asking).
const EMILY = { name: "Emily Carter", phone: "+14155550101" };
const TEMPLATE = "Hi {{1}}, your order {{2}} is confirmed. We will message you when it ships."; // order_confirmation (en), seeded

// asker answers every question with action (accept ticks confirm) and
// remembers the questions (and wire: what the server sent, for a connect
// that records it).
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

// confirmedSends checks an accepted and a declined send, each on its own
// client, labelled "<label>: confirm <action>". connect(asker) opens a
// client that declares elicitation and answers elicitation/create with
// asker.handler; structured(result) is a tool result's structured content
// (default json); asked(name, asker), if given, adds checks once the
// question has been checked; step bounds each connect and request.
export async function confirmedSends(label, { connect, structured = json, asked, step }) {
  // sentTo: the message ids of the campaign_sent feed's records for phone.
  const sentTo = async (c, phone, name) => {
    const res = await within(step, c.callTool({ name: "qyvo_list_recent", arguments: { event: "campaign_sent", limit: 100 } }), `${name} qyvo_list_recent`);
    if (res.isError) throw new Error(`qyvo_list_recent: ${text(res)}`);
    return structured(res).events.filter((e) => e.phone === phone).map((e) => e.message_id);
  };
  for (const action of ["accept", "decline"]) {
    const name = `${label}: confirm ${action}`;
    const person = asker(action);
    let c;
    try {
      c = await connect(person);
      await within(step, c.listTools(), `${name} tools/list`); // callTool then checks results against the output schemas
      const order = `#${Math.floor(100000 + Math.random() * 900000)}`;
      const before = await sentTo(c, EMILY.phone, name);
      const res = await within(step, c.callTool({ name: "qyvo_send_template_message", arguments: { phone: EMILY.phone, template: "order_confirmation", variables: ["Emily", order] } }), `${name} send`);
      const fresh = (await sentTo(c, EMILY.phone, name)).filter((id) => !before.includes(id));
      const rendered = TEMPLATE.replace("{{1}}", "Emily").replace("{{2}}", order);
      check(`${name}: asked once, naming the recipient and the rendered template`,
        person.asked.length === 1 && person.asked[0].includes(`${EMILY.name}, ${EMILY.phone}`) && person.asked[0].includes(rendered),
        JSON.stringify(person.asked));
      asked?.(name, person);
      const out = res.isError ? {} : structured(res) ?? {};
      if (action === "accept") {
        check(`${name}: sent, and qyvo_list_recent shows exactly one new message`,
          !res.isError && out.declined === undefined && fresh.length === 1 && out.id === fresh[0], `${JSON.stringify(res).slice(0, 300)} new: ${JSON.stringify(fresh)}`);
      } else {
        check(`${name}: declined: true, not an error, and no new message`,
          !res.isError && out.declined === true && typeof out.note === "string" && fresh.length === 0, `${JSON.stringify(res).slice(0, 300)} new: ${JSON.stringify(fresh)}`);
      }
    } catch (e) {
      check(`${name}: ran without exceptions`, false, e.stack);
    } finally {
      await c?.close().catch(() => {});
    }
  }
}

// Event subscriptions (README "What an agent sees of events"): a client
// following events://vivre is sent notifications/resources/updated for it
// once a Vivre contact it creates is in the event log, and crm_list_events
// then lists the contact.created event. Checks are labelled
// "<label>: events://vivre". connect() opens a client; follow(client, name,
// updated) makes it follow events://vivre (and may check how), calling
// updated(uri) for each notifications/resources/updated, and may return a
// subscription to close() at the end; structured and step as for confirmedSends.
export async function eventSubscription(label, { connect, follow, structured = json, step }) {
  const name = `${label}: events://vivre`;
  let c, sub;
  try {
    c = await connect();
    const updated = [];
    let wake = () => {};
    sub = await follow(c, name, (uri) => { updated.push(uri); wake(); });
    const slug = label.replace(/[^A-Za-z0-9]+/g, "-");
    const created = await within(step, c.callTool({ name: "vivre_create_contact", arguments: { name: `Subscribed ${label}`, email: `sub-${slug}@events-${Date.now()}.example` } }), `${name} vivre_create_contact`);
    const contact = structured(created) ?? {};
    const start = Date.now();
    await within(10000, new Promise((resolve) => { wake = () => updated.includes("events://vivre") && resolve(); wake(); }), `${name} notifications/resources/updated`)
      .catch(() => {});
    check(`${name}: notifications/resources/updated for events://vivre within 10 s of vivre_create_contact`,
      !created.isError && updated.includes("events://vivre"), `after ${Date.now() - start} ms: ${JSON.stringify(updated)}; ${text(created).slice(0, 200)}`);
    // The notification says the event is in the log: crm_list_events lists it
    // (polled briefly, should the notification have been for another event).
    let page, found;
    for (const until = Date.now() + 5000; ;) {
      page = structured(await within(step, c.callTool({ name: "crm_list_events", arguments: { vendor: "vivre", types: ["contact.created"] } }), `${name} crm_list_events`));
      found = page?.events?.find((e) => e.record_id === contact.id);
      if (found || Date.now() > until) break;
      await sleep(100);
    }
    check(`${name}: crm_list_events then lists the contact.created event`,
      found?.type === "contact.created" && found.vendor === "vivre" && found.record_uri === `vivre://contacts/${contact.id}`, JSON.stringify(page).slice(0, 400));
  } catch (e) {
    check(`${name}: ran without exceptions`, false, e.stack);
  } finally {
    try { await sub?.close?.(); } catch {}
    await c?.close().catch(() => {});
  }
}

// finish prints the tally and exits non-zero on any failure.
export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
