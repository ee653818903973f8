/** `pilotfish explain` run as a process on the project's examples: the JSON shape, the text trace, and errors a person can act on. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { repoRoot } from "../../support/paths.js";
import { cliNodeArgs } from "../../support/cli.js";

function pilotfish(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cliNodeArgs(), ...args], { cwd: repoRoot }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe("pilotfish explain", () => {
  test("-o json prints the documented shape: a 404 names the Gateway that serves the host elsewhere", async () => {
    const run = await pilotfish("explain", "-f", "examples/coolstore", "--host", "catalog.istioinaction.io", "--path", "/api", "--scheme", "https", "-o", "json");
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { verdict: string; listener: string; reasons: string[] };
    assert.deepEqual(Object.keys(result), ["verdict", "listener", "reasons"]);
    assert.equal(result.verdict, "no_listener");
    assert.ok(result.reasons.includes("host catalog.istioinaction.io:443 not served: the Gateway istioinaction/coolstore-gateway serves it on port 80 only"), result.reasons.join("\n"));
  });

  test("text output: the decisions, then numbered reasons; no colour when not a TTY", async () => {
    const run = await pilotfish("explain", "-f", "examples/coolstore", "--host", "catalog.istioinaction.io", "--path", "/api?x=1", "--header", "x-a=b");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^verdict: {7}route 503\n/);
    assert.match(run.stdout, /virtual host: {2}catalog\.istioinaction\.io:80\n/);
    assert.match(run.stdout, /has no endpoints: Envoy answers 503/);
    assert.ok(!run.stdout.includes("\u001b["));
  });

  test("bad flags exit 1 with what to do", async () => {
    const neither = await pilotfish("explain", "--host", "a");
    assert.equal(neither.code, 1);
    assert.match(neither.stderr, /give exactly one source: -f DIR .* or --admin-addr/);
    const header = await pilotfish("explain", "-f", "examples/coolstore", "--host", "a", "--header", "novalue");
    assert.equal(header.code, 1);
    assert.match(header.stderr, /--header "novalue": expected name=value/);
    const missing = await pilotfish("explain", "-f", "no/such/dir", "--host", "a");
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no\/such\/dir/);
  });
});
