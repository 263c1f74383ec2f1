// The MCP conformance suite's server scenarios (npm @modelcontextprotocol/
// conformance, the release and the 0.2.0 prerelease, pinned in package.json)
// against `crm-mcp --sandbox --transport http` on a free loopback port.
//
//   node run.mjs /path/to/crm-mcp            the scenarios in CI below: they pass and concern
//                                            crm-mcp's features; one line per run, exit 1 if any fails
//   node run.mjs /path/to/crm-mcp --survey   every server scenario of both suite versions, at every
//                                            protocol revision it lists: a table, exit 0
//
// The suite needs Node.js 22 (it imports fs.globSync): .ci/run runs this
// with the node that package.json pins. Builds nothing; every wait is
// bounded, and the server is killed however this ends.
//
// Most scenarios the survey fails call the suite's own fixture tools,
// prompts and resources, which only its reference "everything" server
// carries: test_simple_text, test_simple_prompt, test://static-text, ...,
// and so do the sampling, elicitation and input-required-result scenarios
// (test_sampling, test_elicitation*, test_input_required_result_*):
// crm-mcp asks its own confirmations through elicitation (elicitation/create
// up to 2025-11-25, input_required results at 2026-07-28; e2e.mjs and
// sdk2.mjs check both), but not through those tools. resources-subscribe
// (before 2026-07-28 only) subscribes to the fixture test://watched-resource
// over /mcp, where crm-mcp refuses resources/subscribe before 2026-07-28
// (no session to notify; it has subscriptions over stdio and /sse, and
// subscriptions/listen on /mcp at 2026-07-28). The rest need what crm-mcp
// does not have (logging, tasks, x-mcp-header tools) or a session.
// README.md ("Which client gets what") lists them.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
// harness.mjs imports Node.js built-ins only, so it resolves from here.
import { startServer, watchdog } from "../e2e/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const [bin, mode] = process.argv.slice(2);
if (!bin || (mode && mode !== "--survey")) throw new Error("usage: node run.mjs /path/to/crm-mcp [--survey]");
if (Number(process.versions.node.split(".")[0]) < 22) {
  console.error(`conformance: the suite needs Node.js 22 or later (fs.globSync); this is ${process.version}: run it with .ci/conformance/node_modules/.bin/node`);
  process.exit(2);
}

// The two suite versions, by their npm alias in package.json.
const SUITES = ["conformance-0.1", "conformance-0.2"];
const suiteVersion = (s) => JSON.parse(readFileSync(join(here, "node_modules", s, "package.json"), "utf8")).version;
const cli = (s) => join(here, "node_modules", s, "dist", "index.js");

// What CI runs: [suite, scenario, revision (null: the suite's default)].
// Revisions up to 2025-11-25 use the initialize handshake (our /mcp answers
// it and issues no session); 2026-07-28 is stateless with per-request _meta.
// completion-complete asks to complete an argument of a fixture prompt
// (test_prompt_with_arguments) and takes the empty answer crm-mcp gives: it
// checks the capability and the answer's shape, not our completions.
const LIFECYCLE = ["server-initialize", "ping", "completion-complete", "tools-list", "resources-list", "prompts-list", "dns-rebinding-protection"];
const CI = [
  ...LIFECYCLE.map((s) => ["conformance-0.1", s, null]),
  ...LIFECYCLE.filter((s) => s !== "dns-rebinding-protection").map((s) => ["conformance-0.2", s, "2025-06-18"]), // it starts at 2025-11-25
  ...LIFECYCLE.map((s) => ["conformance-0.2", s, "2025-11-25"]),
  ...["server-stateless", "http-header-validation", "caching", "server-sse-multiple-streams", "completion-complete", "tools-list",
    "resources-list", "sep-2164-resource-not-found", "prompts-list", "dns-rebinding-protection"].map((s) => ["conformance-0.2", s, "2026-07-28"]),
];

// Checks that fail only because a diagnostic tool of the suite's own
// fixture server is absent (the check says "Not testable: server does not
// list the diagnostic tool ..."): accepted as not applicable, by id, as long
// as that is why they fail. Any other failure fails the scenario.
const FIXTURE_ONLY = {
  "server-stateless": {
    "sep-2575-server-rejects-undeclared-capability": "test_missing_capability",
    "sep-2575-missing-capability-http-400": "test_missing_capability",
    "sep-2575-http-server-no-independent-requests-on-stream": "test_streaming_elicitation",
    "sep-2575-server-no-log-without-loglevel": "test_logging_tool",
  },
};

// The whole run is bounded (this tallies its own runs, so the watchdog
// prints no tally); crm-mcp is killed however this ends (harness.mjs).
watchdog((mode ? 1800 : 300) * 1000, { tally: false });

// runScenario runs one scenario and returns its checks (null when the suite
// wrote none) and the tail of its output.
async function runScenario(url, suite, scenario, rev) {
  const out = mkdtempSync(join(tmpdir(), "crm-mcp-conformance-"));
  const args = [cli(suite), "server", "--url", url, "--scenario", scenario, "-o", out, ...(rev ? ["--spec-version", rev] : [])];
  const log = await new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: 90000, killSignal: "SIGKILL", maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: "1" } },
      (err, stdout, stderr) => resolve(`${stdout}${stderr}${err?.killed ? "\n(killed after 90 s)" : ""}`));
  });
  let checks = null;
  try {
    const dir = readdirSync(out).find((d) => d.startsWith(`server-${scenario}-`));
    if (dir) checks = JSON.parse(readFileSync(join(out, dir, "checks.json"), "utf8"));
  } catch {}
  rmSync(out, { recursive: true, force: true });
  return { checks, log: log.trim().split("\n").slice(-15).join("\n") };
}

// judge says pass, fail or vacuous (no check succeeded or failed: the
// scenario tested nothing here), with the reasons worth printing.
function judge(scenario, checks) {
  if (!checks) return { verdict: "fail", notes: ["the suite wrote no checks"] };
  const allowed = FIXTURE_ONLY[scenario] ?? {};
  let ok = 0, bad = 0;
  const notes = [];
  for (const c of checks) {
    const msg = (c.errorMessage ?? c.details?.message ?? "").replace(/\s+/g, " ").slice(0, 160);
    if (c.status === "SUCCESS" && c.id !== "wire-schema-valid") ok++; // schema-valid messages alone test nothing
    else if (c.status === "FAILURE" && allowed[c.id] && /^Not testable/.test(msg) && msg.includes(allowed[c.id])) notes.push(`n/a ${c.id}: needs the suite's fixture tool ${allowed[c.id]}`);
    else if (c.status === "FAILURE") { bad++; notes.push(`FAILURE ${c.id}: ${msg}`); }
    else if (c.status === "WARNING") notes.push(`warning ${c.id}: ${msg}`);
  }
  return { verdict: bad ? "fail" : ok ? "pass" : "vacuous", notes, ok, bad };
}

// Only PATH and HOME from this environment: an MCP_AUTH_TOKENS in it would
// have /mcp ask for a token the suite does not send.
const { base } = await startServer(bin, ["--sandbox", "--transport", "http"], { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: "error" });
const url = `${base}/mcp`;
const versions = Object.fromEntries(SUITES.map((s) => [s, suiteVersion(s)]));
console.log(`conformance: ${SUITES.map((s) => `@modelcontextprotocol/conformance@${versions[s]}`).join(" and ")} against ${url}`);

if (!mode) {
  let passed = 0, failed = 0;
  for (const [suite, scenario, rev] of CI) {
    const { checks, log } = await runScenario(url, suite, scenario, rev);
    const { verdict, notes, ok } = judge(scenario, checks);
    const label = `${versions[suite]} ${scenario}${rev ? ` @${rev}` : ""}`;
    if (verdict === "pass") { passed++; console.log(`ok   ${label} (checks passed: ${ok})`); }
    else { failed++; console.log(`FAIL ${label}: ${verdict}`); console.log(log.replace(/^/gm, "       ")); }
    for (const n of notes) console.log(`       ${n}`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

// Survey: every server scenario each suite lists, at each revision it names.
const rows = [];
for (const suite of SUITES) {
  const listed = await new Promise((resolve, reject) => execFile(process.execPath, [cli(suite), "list", "--server"], { timeout: 30000 },
    (err, stdout) => (err ? reject(err) : resolve(stdout))));
  for (const [, scenario, revs] of listed.matchAll(/^\s*- (\S+) \[([^\]]*)\]/gm)) {
    const runs = suite === "conformance-0.1" || revs === "extension" ? [null] : revs.split(",");
    for (const rev of runs) {
      const t0 = Date.now();
      const { checks } = await runScenario(url, suite, scenario, rev);
      const j = judge(scenario, checks);
      j.notes.unshift(`${((Date.now() - t0) / 1000).toFixed(1)} s`);
      rows.push({ suite: versions[suite], scenario, rev: rev ?? (revs === "extension" ? "extension" : "default"), ...j });
      console.log(`${j.verdict.padEnd(7)} ${versions[suite]} ${scenario} @${rows.at(-1).rev}${j.notes.length > 1 ? `: ${j.notes[1]}` : ""} (${j.notes[0]})`);
    }
  }
}
for (const s of SUITES) {
  const mine = rows.filter((r) => r.suite === versions[s]);
  const names = [...new Set(mine.map((r) => r.scenario))];
  const passing = names.filter((n) => mine.filter((r) => r.scenario === n).every((r) => r.verdict === "pass"));
  console.log(`${versions[s]}: ${names.length} scenarios, ${passing.length} pass at every revision run (${mine.filter((r) => r.verdict === "pass").length} of ${mine.length} runs pass, ${mine.filter((r) => r.verdict === "vacuous").length} vacuous)`);
}
process.exit(0);
