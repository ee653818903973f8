/**
 * Faults the operator survives, with the operator as a real process (config/rbac's identity,
 * leader election on with its defaults) against a real kube-apiserver + etcd:
 *
 * - the apiserver stopped for 20 s and started again on the same etcd: the leader stops writing
 *   at its renew deadline, /healthz stays 200, the informers come back by themselves, the leader
 *   leads again, the first change after the outage is published and nothing else is rewritten;
 * - a watch that cannot resume (410 Gone): etcd's history compacted past every informer's
 *   resourceVersion, then the apiserver restarted (the reconnect): the informers re-list and
 *   resume, and the next change is published.
 *
 * One control plane, tests in order. Figures are printed as `# ...`.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Watch } from "@kubernetes/client-node";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { freePort, waitFor } from "../../support/net.js";
import { startOperator } from "./support/operator-process.js";
import type { OperatorProcess } from "./support/operator-process.js";
import { buildGatewayWorld, linesMatching, proxy, publishLines, timeOf, waitForLine } from "./support/gateway-world.js";
import type { GatewayWorld } from "./support/gateway-world.js";

const groups = ["lds", "rds", "cds", "eds", "sds"] as const;
const outageMs = 20_000;

describe("faults the operator survives", () => {
  let controlPlane: ControlPlane;
  let work: string;
  let world: GatewayWorld;
  let operator: OperatorProcess;

  /** resourceVersion of each published object. */
  const versions = async (): Promise<Record<string, string>> => {
    const rest = world.rest();
    const entries = await Promise.all(
      groups.map(async (group) => {
        const kind = group === "sds" ? "secrets" : "configmaps";
        const object = await rest.get(`/api/v1/namespaces/istio-system/${kind}/pilotfish-${proxy}-${group}`);
        return [group, object?.metadata?.resourceVersion ?? ""] as const;
      }),
    );
    return Object.fromEntries(entries);
  };
  const changed = (before: Record<string, string>, after: Record<string, string>): string[] => groups.filter((group) => before[group] !== after[group]);
  const healthz = async (): Promise<number> => (await fetch(`${operator.healthUrl}/healthz`)).status;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-faults-test-"));
    controlPlane = await startControlPlane();
    world = await buildGatewayWorld(controlPlane, work);
    await world.setPrefix("/v1");
    operator = await startOperator({
      kubeconfig: world.kubeconfig,
      proxyConfigDir: "/etc/pilotfish/proxy",
      proxyAdminPort: await freePort(),
      proxyStatusPort: await freePort(),
    });
    await world.waitPublished("/v1");
  });

  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false) return;
    process.stderr.write(`\n----- operator -----\n${operator?.process.output.text().split("\n").slice(-60).join("\n")}\n`);
    process.stderr.write(`\n----- control plane -----\n${controlPlane?.logs().split("\n").slice(-30).join("\n")}\n`);
  });

  after(async () => {
    await operator?.stop();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("apiserver down 20 s: writes stop at the renew deadline, informers resume, the next change is published, nothing else rewritten", async () => {
    // Settled: the first round's writes are done.
    await waitFor(async () => (await operator.metrics()).includes("pilotfish_queue_depth 0"), { what: "an idle queue" });
    const before = await versions();
    const publishesBefore = publishLines(operator).length;
    const leadsBefore = linesMatching(operator, / is the leader /).length;

    const stoppedAt = Date.now();
    await controlPlane.stopApiserver();
    const stopped = await waitForLine(operator, /stopped leading \(renew deadline passed\)/, outageMs);
    const stopWritingMs = timeOf(stopped) - stoppedAt;
    assert.equal(await healthz(), 200, "liveness does not depend on the apiserver");
    assert.ok(linesMatching(operator, /^watch of \S+ failed, restarting in \d+ ms/).length > 0, "the broken watches were noticed");
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, stoppedAt + outageMs - Date.now())));
    assert.equal(operator.process.exitStatus, undefined, "the operator kept running");
    assert.equal(await healthz(), 200);

    const restartStarted = Date.now();
    await controlPlane.startApiserver();
    const apiserverReady = Date.now();
    // A change as soon as the apiserver answers: the informers must pick it up by themselves.
    const changedAt = Date.now();
    await world.setPrefix("/v2");
    const publishedAt = await world.waitPublished("/v2", 60_000);
    const leads = await waitForLine(operator, / is the leader /, 30_000, leadsBefore);
    process.stdout.write(
      `# apiserver stop → leader stops writing: ${stopWritingMs} ms (renew deadline 10000 ms after the last renewal); ` +
        `apiserver restart → /readyz: ${apiserverReady - restartStarted} ms; apiserver restart → leader again: ${timeOf(leads) - restartStarted} ms; ` +
        `change right after → published: ${publishedAt - changedAt} ms (kubectl apply included)\n`,
    );
    assert.ok(stopWritingMs <= 10_000 + 500, `stopped writing ${stopWritingMs} ms after the outage began: later than the renew deadline`);

    // Nothing lost, nothing duplicated: only the route's object was rewritten, by one publish.
    await waitFor(async () => (await operator.metrics()).includes("pilotfish_queue_depth 0"), { what: "an idle queue" });
    assert.deepEqual(changed(before, await versions()), ["rds"]);
    const after = publishLines(operator).slice(publishesBefore).map((line) => line.message);
    assert.equal(after.length, 1, `one publish after the outage: ${after.join(" | ")}`);
    assert.match(after[0] ?? "", /^published pilotfish-istio-ingressgateway-rds \d+ B; /);
    assert.deepEqual(await readyz(operator), { status: 200, text: "ready (leader)" });
  });

  test("410 Gone (etcd compacted past every watch, then a reconnect): informers re-list and resume; the next change is published", async () => {
    const stale = (await world.rest().list("/apis/networking.istio.io/v1/virtualservices")).metadata?.resourceVersion ?? "";
    // Move etcd's revision past every informer's resourceVersion with an object nobody watches, then drop the history.
    await controlPlane.kubectlOk(["create", "configmap", "unwatched", "-n", "default", "--from-literal=a=b"]);
    const compactedAt = await controlPlane.compactEtcd();
    assert.ok(compactedAt > Number(stale), `compacted at ${compactedAt}, past ${stale}`);
    const relistsBefore = linesMatching(operator, /^re-listed /).length;
    const before = await versions();
    const publishesBefore = publishLines(operator).length;

    // The reconnect: a restarted apiserver serves watches from etcd's compacted history.
    await controlPlane.stopApiserver();
    const restartStarted = Date.now();
    await controlPlane.startApiserver();
    const apiserverReady = Date.now();

    // What every informer meets when it resumes from its old resourceVersion.
    const answer = await watchOnce("/apis/networking.istio.io/v1/virtualservices", stale);
    assert.equal(answer, 410, `a watch from resourceVersion ${stale} is refused with 410 Gone`);

    const relisted = await waitFor(() => {
      const names = new Set(linesMatching(operator, /^re-listed /).slice(relistsBefore).map((line) => String(line.resource)));
      return ["gateways", "virtualservices", "destinationrules", "services", "endpointslices", "deployments"].every((name) => names.has(name)) ? names : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100, what: "every informer re-listing" });
    const lastRelist = Math.max(...linesMatching(operator, /^re-listed /).slice(relistsBefore).map(timeOf));
    const changedAt = Date.now();
    await world.setPrefix("/v3");
    const publishedAt = await world.waitPublished("/v3", 30_000);
    process.stdout.write(
      `# 410: apiserver restart → /readyz ${apiserverReady - restartStarted} ms; ready → every informer re-listed ${lastRelist - apiserverReady} ms ` +
        `(${[...relisted].join(", ")}); change → published ${publishedAt - changedAt} ms (kubectl apply included)\n`,
    );
    // A re-list reconciles the cache: objects that did not change are not changes, so the
    // re-list alone rewrote nothing; the route change rewrote -rds only.
    await waitFor(async () => (await operator.metrics()).includes("pilotfish_queue_depth 0"), { what: "an idle queue" });
    assert.deepEqual(changed(before, await versions()), ["rds"]);
    assert.equal(publishLines(operator).length - publishesBefore, 1);
  });

  /** One watch from `resourceVersion`: 410 when it is refused as too old, 200 when it streams. */
  async function watchOnce(path: string, resourceVersion: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let controller: AbortController | undefined;
      const finish = (code: number): void => {
        controller?.abort();
        resolve(code);
      };
      const timer = setTimeout(() => finish(200), 5_000);
      new Watch(controlPlane.kubeConfig())
        .watch(
          path,
          { resourceVersion },
          (phase: string, object: { code?: number }) => {
            if (phase === "ERROR") {
              clearTimeout(timer);
              finish(object.code ?? 0);
            }
          },
          (error: { statusCode?: number; code?: number } | null) => {
            clearTimeout(timer);
            if (error?.statusCode === 410 || error?.code === 410) finish(410);
          },
        )
        .then((started) => (controller = started), reject);
    });
  }

  async function readyz(process: OperatorProcess): Promise<{ status: number; text: string }> {
    const response = await fetch(`${process.healthUrl}/readyz`);
    return { status: response.status, text: (await response.text()).trim() };
  }
});
