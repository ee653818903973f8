/**
 * `pilotfish operator` as a process, without a cluster: --help explains every flag; start-up
 * failures exit 1 with one readable line (the running loop's behaviour is in
 * test/integration/operator).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { repoRoot } from "../../support/paths.js";
import { cliNodeArgs } from "../../support/cli.js";

function pilotfish(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...cliNodeArgs(), ...args], { encoding: "utf8", cwd: repoRoot, env: { ...process.env, KUBECONFIG: "/nonexistent/kubeconfig" }, timeout: 60_000 });
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

  test("leader election flags: documented defaults, durations checked, and the three must nest", () => {
    const help = pilotfish("operator", "--help").stdout.replace(/\s+/g, " ");
    for (const [flag = "", value = ""] of [["--leader-elect [bool]", "true"], ["--leader-elect-lease-duration <duration>", "15000"], ["--leader-elect-renew-deadline <duration>", "10000"], ["--leader-elect-retry-period <duration>", "2000"], ["--leader-elect-resource-name <name>", '"pilotfish"']]) {
      assert.match(help, new RegExp(`${flag.replace(/[[\]]/g, "\\$&")} .*?\\(default: ${value}\\)`), flag);
    }
    const duration = pilotfish("operator", "--leader-elect-lease-duration", "15");
    assert.equal(duration.status, 1);
    assert.match(duration.stderr, /--leader-elect-lease-duration <duration>' argument '15' is invalid\. expected a duration such as 15s/);
    const nesting = pilotfish("operator", "--leader-elect-lease-duration", "10s", "--leader-elect-renew-deadline", "10s");
    assert.equal(nesting.status, 1);
    assert.match(nesting.stderr, /--leader-elect-lease-duration must be longer than --leader-elect-renew-deadline/);
    const flag = pilotfish("operator", "--leader-elect=maybe");
    assert.equal(flag.status, 1);
    assert.match(flag.stderr, /expected true or false/);
    // With election off the timing is not checked; the next problem is the kubeconfig.
    const single = pilotfish("operator", "--leader-elect=false", "--leader-elect-lease-duration", "1s", "--kubeconfig", "/nonexistent/k");
    assert.equal(single.status, 1);
    assert.match(single.stderr, /kubeconfig \/nonexistent\/k does not exist/);
  });
});
