// End-to-end check of crm-mcp as an OAuth 2.1 resource server, with the
// official MCP TypeScript SDK's own OAuth support: oidc-dev (a real OpenID
// provider, zitadel/oidc) issues the tokens, crm-mcp --sandbox checks them,
// and the SDK's StreamableHTTPClientTransport with a ClientCredentialsProvider
// as its authProvider starts WITHOUT a token, so it has to complete discovery
// from crm-mcp's 401 by itself: resource metadata, authorization server
// metadata, token, retry.
//
//   node oauth.mjs /path/to/crm-mcp /path/to/oidc-dev
//
// Builds nothing. Prints one line per check (and, indented, the requests the
// SDK made) and "N passed, M failed"; exits non-zero on any failure. Every
// wait is bounded, and the two servers are killed on exit.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import { check, children, finish, freePort, json, startServer, text, watchdog, within } from "./harness.mjs";

const [bin, oidcBin] = process.argv.slice(2);
if (!bin || !oidcBin) throw new Error("usage: node oauth.mjs /path/to/crm-mcp /path/to/oidc-dev");
const STEP = 15000; // bound on any one request or start-up

watchdog(180000);

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

// oidc-dev prints "key: value" lines, then "ready".
async function startOIDC(audience) {
  const port = await freePort();
  const proc = spawn(oidcBin, ["--addr", `127.0.0.1:${port}`, "--audience", audience], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(proc);
  const info = {};
  const lines = createInterface({ input: proc.stdout });
  await within(STEP, new Promise((resolve, reject) => {
    proc.on("error", reject);
    proc.on("exit", (code) => reject(new Error(`oidc-dev exited with ${code} before it was ready`)));
    lines.on("line", (line) => {
      const m = /^([a-z_]+):\s+(.*)$/.exec(line);
      if (m) info[m[1]] = m[2];
      if (line === "ready") resolve();
    });
  }), "oidc-dev start");
  return info;
}

// crm-mcp on port (publicURL, given to oidc-dev as the audience, names it).
async function startMCP(port, issuer, publicURL) {
  const env = { ...process.env, MCP_OAUTH_ISSUER: issuer, MCP_PUBLIC_URL: publicURL, LOG_LEVEL: "warn" };
  delete env.MCP_AUTH_TOKENS; // OAuth only: no static token to fall back on
  return (await startServer(bin, ["--sandbox", "--transport", "http"], env, port)).base;
}

// A fetch that records what the SDK asks for, so the discovery it did can be checked and shown.
function recordingFetch(log) {
  return async (url, init = {}) => {
    const u = String(url instanceof Request ? url.url : url);
    const method = init.method ?? "GET";
    const entry = { method, url: u };
    const headers = new Headers(init.headers);
    if (/^Basic /.test(headers.get("authorization") ?? "")) entry.basic = true;
    if (init.body instanceof URLSearchParams) entry.form = Object.fromEntries(init.body);
    else if (typeof init.body === "string" && init.body.startsWith("{")) { try { entry.rpc = JSON.parse(init.body).method; } catch {} }
    log.push(entry);
    const res = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(STEP) });
    entry.status = res.status;
    entry.challenge = res.headers.get("www-authenticate") ?? undefined;
    return res;
  };
}

function show(entries) {
  for (const e of entries) {
    const what = e.rpc ? ` (${e.rpc})` : e.form ? ` (${Object.entries(e.form).map(([k, v]) => `${k}=${v}`).join("&")}${e.basic ? "; client_secret_basic" : ""})` : "";
    console.log(`       ${e.method} ${e.url}${what} -> ${e.status ?? "(still open)"}${e.challenge ? `  WWW-Authenticate: ${e.challenge}` : ""}`);
  }
}

async function connect(info, base, scope, log) {
  const provider = new ClientCredentialsProvider({ clientId: info.client_id, clientSecret: info.client_secret, expectedIssuer: info.issuer, scope });
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { authProvider: provider, fetch: recordingFetch(log) });
  const client = new Client({ name: "crm-mcp-oauth-e2e", version: "1.0.0" });
  const hadToken = !!provider.tokens();
  await within(STEP * 2, client.connect(transport, { timeout: STEP }), `connect (${scope})`);
  return { client, provider, hadToken };
}

const opts = { timeout: STEP };
const call = (c, name, args) => c.callTool({ name, arguments: args }, undefined, opts);
const sentFeed = async (c) => json(await call(c, "qyvo_list_recent", { event: "campaign_sent", limit: 100 })).events ?? [];

const mcpPort = await freePort();
const publicURL = `http://127.0.0.1:${mcpPort}/mcp`;
const clients = [];
try {
  const info = await startOIDC(publicURL);
  check("oidc-dev printed issuer, client id and secret", info.issuer && info.client_id && info.client_secret && info.token_url, JSON.stringify(Object.keys(info)));
  const base = await startMCP(mcpPort, info.issuer, publicURL);
  const prm = `${base}/.well-known/oauth-protected-resource/mcp`;

  // What an unauthenticated client is told.
  const noTok = await fetch(`${base}/mcp`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}", signal: AbortSignal.timeout(STEP) });
  const challenge = noTok.headers.get("www-authenticate") ?? "";
  check("no token: 401 naming the resource metadata and scope crm:read",
    noTok.status === 401 && challenge.includes(`resource_metadata="${prm}"`) && challenge.includes(`scope="crm:read"`), `${noTok.status} ${challenge}`);

  // Client 1: scope crm:read. It starts with no token.
  const log1 = [];
  const { client: reader, provider: p1, hadToken } = await connect(info, base, "crm:read", log1);
  clients.push(reader);
  console.log("     the SDK's requests while connecting (crm:read):");
  show(log1);
  check("read client: the SDK had no token before connecting", !hadToken);
  const first = log1[0], idx = (pred, from = 0) => log1.findIndex((e, i) => i >= from && pred(e));
  const iPRM = idx((e) => e.method === "GET" && e.url === prm && e.status === 200);
  const iAS = idx((e) => e.method === "GET" && e.url.startsWith(info.issuer + "/.well-known/") && e.status === 200, iPRM);
  const iTok = idx((e) => e.method === "POST" && e.url === info.token_url && e.status === 200, iAS);
  const iRetry = idx((e) => e.method === "POST" && e.url === `${base}/mcp` && e.rpc === "initialize" && e.status === 200, iTok);
  check("read client: initialize without a token got 401", first?.method === "POST" && first.url === `${base}/mcp` && first.status === 401, JSON.stringify(first));
  check("read client: then the resource metadata from the challenge", iPRM > 0, JSON.stringify(log1.map((e) => e.url)));
  check("read client: then the issuer's metadata", iAS > iPRM, JSON.stringify(log1.map((e) => e.url)));
  const tokReq = log1[iTok];
  check("read client: then a token (client_credentials, client_secret_basic, scope crm:read, resource = MCP_PUBLIC_URL)",
    iTok > iAS && tokReq.basic && tokReq.form?.grant_type === "client_credentials" && tokReq.form?.scope === "crm:read" && tokReq.form?.resource === publicURL,
    JSON.stringify(tokReq));
  check("read client: then initialize again, with the token: 200", iRetry > iTok, JSON.stringify(log1.slice(-3)));
  const c1 = claims(p1.tokens()?.access_token ?? "x.e30.x");
  check("read client: its token is for crm-mcp, from the issuer, scope crm:read",
    c1.iss === info.issuer && [].concat(c1.aud).includes(publicURL) && c1.scope === "crm:read", JSON.stringify(c1));

  const tools1 = (await reader.listTools(undefined, opts)).tools;
  const names1 = tools1.map((t) => t.name);
  check("read client: tools/list has only read-only (crm:read) tools", tools1.length > 0 && tools1.every((t) => t.annotations?.readOnlyHint === true),
    tools1.filter((t) => t.annotations?.readOnlyHint !== true).map((t) => t.name).join(","));
  check("read client: vivre_get_contact is listed, vivre_create_contact and qyvo_send_template_message are not",
    names1.includes("vivre_get_contact") && !names1.includes("vivre_create_contact") && !names1.includes("qyvo_send_template_message"), names1.join(","));
  const got = await call(reader, "vivre_get_contact", { id: "cnt_8800" });
  check("read client: vivre_get_contact cnt_8800", !got.isError && text(got).includes("Rahul Sharma"), text(got).slice(0, 200));

  const templates = json(await call(reader, "qyvo_list_templates", {}));
  const tpl = templates.templates.find((t) => t.status === "approved");
  const sendArgs = () => ({ phone: "+14155550" + String(100 + Math.floor(Math.random() * 800)), template: tpl.name, language: tpl.language, variables: Array(tpl.variables).fill("Asha") });
  const sentBefore = await sentFeed(reader);
  const mark = log1.length;
  let sendErr;
  try {
    const r = await call(reader, "qyvo_send_template_message", sendArgs());
    sendErr = r.isError ? null : undefined; // a tool result at all means the call got past the scope check
  } catch (e) { sendErr = e; }
  console.log("     the SDK's requests for qyvo_send_template_message (crm:read):");
  show(log1.slice(mark));
  console.log(`     and the SDK threw: ${sendErr}`);
  const denied = log1.slice(mark).filter((e) => e.status === 403);
  check("read client: qyvo_send_template_message fails with an error", sendErr instanceof Error, String(sendErr));
  check("read client: the server answered HTTP 403 insufficient_scope, scope crm:send",
    denied.length > 0 && denied.every((e) => /error="insufficient_scope"/.test(e.challenge ?? "") && /scope="crm:send"/.test(e.challenge ?? "")) && /403/.test(String(sendErr?.message ?? sendErr)),
    JSON.stringify(denied));
  const sentAfter = await sentFeed(reader);
  check("read client: the sandbox sent nothing (its campaign_sent feed is unchanged)", JSON.stringify(sentAfter) === JSON.stringify(sentBefore),
    `${sentBefore.length} -> ${sentAfter.length} events; newest ${JSON.stringify(sentAfter[0])}`);

  // Client 2: scope crm:read crm:send.
  const log2 = [];
  const { client: sender, provider: p2 } = await connect(info, base, "crm:read crm:send", log2);
  clients.push(sender);
  const tok2 = log2.find((e) => e.url === info.token_url);
  check("read+send client: discovery from the 401 and a token for crm:read crm:send",
    log2[0]?.status === 401 && tok2?.status === 200 && tok2.form?.scope === "crm:read crm:send" && claims(p2.tokens().access_token).scope === "crm:read crm:send",
    JSON.stringify(log2));
  const names2 = (await sender.listTools(undefined, opts)).tools.map((t) => t.name);
  check("read+send client: tools/list has qyvo_send_template_message, not vivre_create_contact",
    names2.includes("qyvo_send_template_message") && names2.includes("vivre_get_contact") && !names2.includes("vivre_create_contact") && names2.length > names1.length,
    names2.join(","));
  const sent = await call(sender, "qyvo_send_template_message", sendArgs());
  const sentNow = await sentFeed(sender);
  const msg = sent.isError ? {} : json(sent);
  check("read+send client: qyvo_send_template_message goes out, and the feed shows it", !sent.isError && !!msg.id && sentNow[0]?.message_id === msg.id,
    `${text(sent).slice(0, 200)}; newest ${JSON.stringify(sentNow[0])}`);
} catch (e) {
  check("ran without exceptions", false, e.stack);
} finally {
  for (const c of clients) await within(5000, c.close(), "close").catch(() => {});
  for (const c of children) c.kill("SIGTERM");
}
finish();
