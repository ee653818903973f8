/**
 * Leader election with real replicas: `pilotfish operator` processes under config/rbac's
 * ServiceAccount on one real apiserver, electing over the Lease istio-system/pilotfish with the
 * shipped defaults (lease 15 s, renew deadline 10 s, retry 2 s).
 *
 * - two replicas: exactly one holds the Lease and writes; the standby compiles, is ready and
 *   writes nothing;
 * - SIGKILL the leader: the standby takes the Lease when it expires (not before, not much after)
 *   and publishes the change made while nobody led within 2 s of taking it;
 * - SIGTERM the leader: exit 0, the Lease released, a standby leads at once (not after 15 s), and
 *   a change made just before the signal is not lost.
 *
 * One control plane; the tests build on each other in order. Figures are printed as `# ...`.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { freePort, waitFor } from "../../support/net.js";
import { startOperator } from "./support/operator-process.js";
import type { OperatorProcess } from "./support/operator-process.js";
import { buildGatewayWorld, identityOf, linesMatching, publishLines, timeOf, waitForLine } from "./support/gateway-world.js";
import type { GatewayWorld } from "./support/gateway-world.js";

const leaseDurationMs = 15_000;

describe("leader election between operator replicas", () => {
  let controlPlane: ControlPlane;
  let work: string;
  let world: GatewayWorld;
  const replicas: OperatorProcess[] = [];
  let first: OperatorProcess;
  let second: OperatorProcess;

  const replica = async (name: string): Promise<OperatorProcess> => {
    const operator = await startOperator({
      kubeconfig: world.kubeconfig,
      proxyConfigDir: "/etc/pilotfish/proxy",
      proxyAdminPort: await freePort(),
      proxyStatusPort: await freePort(),
      name,
    });
    replicas.push(operator);
    return operator;
  };
  const readyz = async (operator: OperatorProcess): Promise<{ status: number; text: string }> => {
    const response = await fetch(`${operator.healthUrl}/readyz`);
    return { status: response.status, text: (await response.text()).trim() };
  };
  const gauge = async (operator: OperatorProcess, name: string): Promise<number> => {
    const line = (await operator.metrics()).split("\n").find((candidate) => candidate.startsWith(`${name} `));
    return Number(line?.split(" ")[1]);
  };
  const writesOf = (operator: OperatorProcess): string[] =>
    linesMatching(operator, /^(published pilotfish-|status |service ports applied|patched caBundle)/).map((line) => line.message);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-leader-test-"));
    controlPlane = await startControlPlane();
    world = await buildGatewayWorld(controlPlane, work);
    await world.setPrefix("/v1");
  });

  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false) return;
    for (const operator of replicas) process.stderr.write(`\n----- ${operator.process.name} -----\n${operator.process.output.text().split("\n").slice(-40).join("\n")}\n`);
  });

  after(async () => {
    for (const operator of replicas) await operator.stop();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("two replicas: one leader writes, the standby compiles, is ready and writes nothing", async () => {
    first = await replica("operator-a");
    await world.waitPublished("/v1");
    assert.equal(await world.leaseHolder(), identityOf(first), "the first replica created and holds the Lease");
    second = await replica("operator-b");
    assert.notEqual(identityOf(second), identityOf(first));

    assert.deepEqual(await readyz(first), { status: 200, text: "ready (leader)" });
    assert.deepEqual(await readyz(second), { status: 200, text: "ready (standby)" });
    assert.equal(await gauge(first, "pilotfish_leader"), 1);
    assert.equal(await gauge(second, "pilotfish_leader"), 0);

    const before = publishLines(first).length;
    await world.setPrefix("/v2");
    await world.waitPublished("/v2");
    await waitFor(() => publishLines(first).length > before, { what: "the leader's publish line" });
    // The standby saw the change and compiled it (warm for a takeover) ...
    await waitFor(async () => (await gauge(second, "pilotfish_compile_duration_seconds_count{proxy=\"istio-system/istio-ingressgateway\"}")) >= 2, {
      what: "the standby compiling the change",
    });
    // ... and wrote nothing: no object, no status, no Service port, no gated request attempted.
    assert.deepEqual(writesOf(second), []);
    assert.deepEqual(linesMatching(second, /not the leader/).map((line) => line.message), []);
    assert.equal(await world.leaseHolder(), identityOf(first));
  });

  test("SIGKILL the leader: the standby takes over when the lease expires and publishes what changed meanwhile", async () => {
    const killedAt = Date.now();
    first.process.child.kill("SIGKILL");
    await first.process.exited;
    // A change while nobody leads: the standby compiles it, writes nothing yet.
    await world.setPrefix("/v3");
    const acquired = await waitForLine(second, /^leader election: .* is the leader/, leaseDurationMs + 10_000);
    const takeoverMs = timeOf(acquired) - killedAt;
    const publishedAt = await world.waitPublished("/v3");
    const publishMs = publishedAt - timeOf(acquired);
    process.stdout.write(`# SIGKILL → standby leads: ${takeoverMs} ms (lease duration ${leaseDurationMs} ms); lease acquired → change published: ${publishMs} ms\n`);
    // The standby waits one lease duration from the last renewal it saw (≤ one retry period
    // before the kill): it watches the Lease and times its attempt to the expiry, so ≈ 13–15 s;
    // if its watch is reconnecting it sees renewals by polling, up to one retry period later.
    assert.ok(takeoverMs >= leaseDurationMs - 2_000 - 100, `took over after ${takeoverMs} ms: before the lease expired`);
    assert.ok(takeoverMs <= leaseDurationMs + 2_000 + 500, `took over after ${takeoverMs} ms: later than the lease duration after the last renewal`);
    assert.ok(publishMs < 2_000, `published ${publishMs} ms after acquiring the lease`);
    assert.equal(await world.leaseHolder(), identityOf(second));
    assert.deepEqual(await readyz(second), { status: 200, text: "ready (leader)" });

    await world.setPrefix("/v4");
    await world.waitPublished("/v4", 5_000);
  });

  test("SIGTERM the leader: exit 0, the lease released, the standby leads at once, the last change kept", async () => {
    const third = await replica("operator-c");
    assert.deepEqual(await readyz(third), { status: 200, text: "ready (standby)" });
    assert.equal(await world.leaseHolder(), identityOf(second));

    // A change right before the signal: in flight at the leader, or compiled by the standby.
    await world.setPrefix("/v5");
    const terminatedAt = Date.now();
    const exit = await second.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, "exit code 0 on SIGTERM");
    assert.ok(linesMatching(second, /^leader election: released Lease istio-system\/pilotfish$/).length === 1, "the leader released its Lease");
    const acquired = await waitForLine(third, /^leader election: .* is the leader/, leaseDurationMs);
    const takeoverMs = timeOf(acquired) - terminatedAt;
    const publishedAt = await world.waitPublished("/v5", 5_000);
    process.stdout.write(`# SIGTERM → standby leads: ${takeoverMs} ms (exit included); SIGTERM → last change published: ${publishedAt - terminatedAt} ms\n`);
    assert.ok(takeoverMs < 3_000, `took over ${takeoverMs} ms after SIGTERM: not at once`);
    assert.equal(await world.leaseHolder(), identityOf(third));
  });
});
