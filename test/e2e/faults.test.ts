/**
 * The data plane outlives its control plane, on the bench's real node: the operator (on the host,
 * config/rbac's identity) publishes a config, is stopped entirely, and then the gateway pod is
 * deleted. Its replacement boots from the mounted published ConfigMaps and Secret alone and serves
 * the last config — a directResponse body that names the config version, so "the last one" is
 * what the test reads, not merely "something". No upstream pod is needed. One short file: the
 * node runs only for this.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { dump } from "js-yaml";
import { printClusterStateOnFailure, startCluster } from "../support/cluster.js";
import type { Cluster } from "../support/cluster.js";
import { installCrds } from "../support/crds.js";
import { httpRequest, waitFor } from "../support/net.js";
import type { HttpResponse } from "../support/net.js";
import { repoRoot } from "../support/paths.js";
import { operatorKubeconfig } from "../integration/operator/support/identity.js";
import { startOperator } from "../integration/operator/support/operator-process.js";
import { filesModeGatewayArgs } from "./support/gateway-manifests.js";
import type { OperatorProcess } from "../integration/operator/support/operator-process.js";

const gatewayNs = "istio-system";
const proxy = "istio-ingressgateway";
const host = "faults.example";
const httpNodePort = 30000;

const manifests = (version: string): string =>
  [
    {
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name: "faults", namespace: gatewayNs },
      spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [host] }] },
    },
    {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "faults", namespace: gatewayNs },
      spec: { hosts: [host], gateways: ["faults"], http: [{ directResponse: { status: 200, body: { string: `config ${version}` } } }] },
    },
  ].map((doc) => dump(doc)).join("---\n");

describe("faults on the bench's node: the operator gone, the gateway restarted", () => {
  let cluster: Cluster;
  let operator: OperatorProcess | undefined;
  let work: string;

  const kubectl = (args: readonly string[], input?: string): Promise<string> => cluster.kubectlOk(args, { namespace: gatewayNs, ...(input === undefined ? {} : { input }) });
  const get = (): Promise<HttpResponse> => httpRequest({ url: `http://${cluster.nodeIp}:${httpNodePort}/`, headers: { host }, timeoutMs: 3000 });
  const serving = (body: string, timeoutMs = 90_000): Promise<number> =>
    waitFor(async () => {
      const response = await get();
      return response.status === 200 && response.body === body ? Date.now() : undefined;
    }, { timeoutMs, intervalMs: 100, what: `"${body}" through the gateway pod` });

  before(async () => {
    cluster = await startCluster({ images: ["proxy"] });
    work = mkdtempSync(join(tmpdir(), "pilotfish-e2e-faults-"));
    await installCrds(cluster);
    await cluster.kubectlOk(["apply", "-f", join(repoRoot, "config", "rbac")]);
    await cluster.kubectlOk(["apply", ...filesModeGatewayArgs]);
    operator = await startOperator({
      kubeconfig: await operatorKubeconfig(cluster, work),
      proxyConfigDir: "/etc/pilotfish/proxy",
      proxyAdminPort: 15000,
      proxyStatusPort: 15021,
    });
  });

  after(async () => {
    await operator?.stop();
    if (cluster) {
      await cluster.kubectl(["delete", ...filesModeGatewayArgs, "--wait=false"]);
      await cluster.stop();
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  printClusterStateOnFailure(() => cluster, () => [gatewayNs]);
  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false || !operator) return;
    process.stderr.write(`----- operator (last 40 lines) -----\n${operator.process.output.text().split("\n").slice(-40).join("\n")}\n`);
  });

  it("a new gateway pod boots from the published ConfigMaps and serves the last config while the operator is stopped", async () => {
    await kubectl(["apply", "-f", "-"], manifests("v1"));
    await kubectl(["rollout", "status", `deployment/${proxy}`, "--timeout=180s"]);
    await serving("config v1");
    await kubectl(["apply", "-f", "-"], manifests("v2"));
    await serving("config v2");

    const exit = await operator?.stop();
    operator = undefined;
    assert.deepEqual(exit, { code: 0, signal: null }, "the operator stopped cleanly");
    const published = await kubectl(["get", "configmaps,secrets", "-l", `pilotfish.io/proxy=${proxy}`, "-o", "name"]);
    assert.equal(published.trim().split("\n").length, 5, "the five published objects outlive the operator");

    const oldPod = (await kubectl(["get", "pods", "-l", "istio=ingressgateway", "-o", "jsonpath={.items[0].metadata.name}"])).trim();
    const deletedAt = Date.now();
    await kubectl(["delete", "pod", oldPod, "--wait=true"]);
    const newPod = await waitFor(async () => {
      const names = (await kubectl(["get", "pods", "-l", "istio=ingressgateway", "-o", "jsonpath={.items[*].metadata.name}"])).trim().split(/\s+/).filter(Boolean);
      return names.length === 1 && names[0] !== oldPod ? names[0] : undefined;
    }, { timeoutMs: 60_000, what: "the replacement gateway pod" });
    await kubectl(["wait", "--for=condition=Ready", `pod/${newPod}`, "--timeout=180s"]);
    const readyAt = Date.now();
    const servedAt = await serving("config v2", 30_000);
    process.stdout.write(`# operator stopped; gateway pod deleted → replacement Ready: ${readyAt - deletedAt} ms; → serving the last config: ${servedAt - deletedAt} ms\n`);
    const response = await get();
    assert.equal(response.body, "config v2", "the last published config, not an earlier one and not an empty Envoy");
  });
});
