// What every end-to-end script here shares: checks and their tally (one
// line each, then "N passed, M failed"), bounded waits, free loopback
// ports, and child processes that die with the script.
import { createServer } from "node:net";

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

// watchdog fails the whole run if it takes over ms.
export function watchdog(ms) {
  setTimeout(() => { console.log(`FAIL the whole run took over ${ms / 1000} s`); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1); }, ms).unref();
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

// finish prints the tally and exits non-zero on any failure.
export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
