// End-to-end check of crm-mcp with the official TypeScript SDK's v2 client
// (@modelcontextprotocol/client), the one that speaks 2026-07-28, at each
// protocol revision it can be asked for, over stdio and streamable HTTP
// (/mcp), against --sandbox: tools (output schemas, a success with
// structured content, a failure as a result), resources, resource
// templates, a read, completion and prompts.
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
import { createServer } from "node:net";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const bin = process.argv[2];
if (!bin) throw new Error("usage: node sdk2.mjs /path/to/crm-mcp");
const TOKEN = "e2e-token-123456";
const STEP = 15000; // bound on one connect or request
let passed = 0, failed = 0;

function check(name, cond, detail = "") {
  if (cond) { passed++; console.log(`ok   ${name}`); }
  else { failed++; console.log(`FAIL ${name} ${detail}`); }
}

const children = [];
process.on("exit", () => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL"); });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));
setTimeout(() => { console.log("FAIL the whole run took over 120 s"); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1); }, 120000).unref();

function within(ms, promise, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().on("error", reject).listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function startHTTP() {
  const port = await freePort();
  const proc = spawn(bin, ["--sandbox", "--transport", "http", "--addr", `127.0.0.1:${port}`],
    { env: { ...process.env, MCP_AUTH_TOKENS: TOKEN, LOG_LEVEL: "error" }, stdio: ["ignore", "ignore", "inherit"] });
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

async function connect(kind, base, rev) {
  const client = new Client({ name: "crm-mcp-e2e-sdk2", version: "1.0.0" }, REVISIONS[rev]);
  const transport = kind === "stdio"
    ? new StdioClientTransport({ command: bin, args: ["--sandbox"], env: { ...process.env, LOG_LEVEL: "error" }, stderr: "ignore" })
    : new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } });
  await within(STEP, client.connect(transport), `${kind} connect at ${rev}`);
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
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
