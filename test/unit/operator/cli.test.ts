/**
 * `pilotfish operator` as a process, without a cluster: --help explains every flag; start-up
 * failures exit 1 with one readable line (the running loop's behaviour is in
 * test/integration/operator).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../../support/paths.js";

function pilotfish(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "src", "cli", "main.ts"), ...args], { encoding: "utf8", cwd: repoRoot, env: { ...process.env, KUBECONFIG: "/nonexistent/kubeconfig" }, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("pilotfish operator (CLI)", () => {
  test("--help names every flag and the exit codes", () => {
    const help = pilotfish("operator", "--help");
    assert.equal(help.status, 0);
    for (const flag of ["--kubeconfig", "--namespace", "--proxy-config-dir", "--health-addr", "--metrics-addr", "--log-level", "--log-format", "--debounce", "--debounce-max", "--max-file-subscriptions"]) {
      assert.ok(help.stdout.includes(flag), flag);
    }
    assert.match(help.stdout, /Exit codes: 0 stopped by SIGTERM\/SIGINT, 1 could not start/);
    assert.match(help.stdout, /"\/etc\/pilotfish\/proxy"/);
  });

  test("a missing kubeconfig exits 1 with its path", () => {
    const run = pilotfish("operator", "--kubeconfig", "/nonexistent/pilotfish.kubeconfig");
    assert.equal(run.status, 1);
    assert.match(run.stderr, /kubeconfig \/nonexistent\/pilotfish\.kubeconfig does not exist/);
  });

  test("invalid flag values exit 1 naming the flag", () => {
    const format = pilotfish("operator", "--log-format", "xml");
    assert.equal(format.status, 1);
    assert.match(format.stderr, /--log-format <format>' argument 'xml' is invalid\. expected one of json, text/);
    const budget = pilotfish("operator", "--max-file-subscriptions", "1");
    assert.equal(budget.status, 1);
    assert.match(budget.stderr, /expected an integer from 2 to 100000/);
  });
});
