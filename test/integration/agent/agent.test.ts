/**
 * `pilotfish agent` with a real Envoy (agent-mode bootstrap: Delta ADS over the agent's Unix
 * socket) and a real upstream XdsServer on 127.0.0.1 standing in for the operator's ADS:
 *
 * - upstream down at start: Envoy serves what the mounted folder holds (written the way kubelet
 *   writes a projected volume: a `..data` swap);
 * - upstream comes up with the same config: the agent switches to it and Envoy sees nothing
 *   (no push on the socket, no listener or cluster modified); the upstream's /debug/syncz shows
 *   the agent's stream SYNCED (ACKs relayed);
 * - a route change upstream reaches Envoy as RDS alone, an endpoint change as EDS alone;
 * - a config Envoy rejects is NACKed upstream with Envoy's own message; the last good config serves;
 * - upstream gone: a new folder version is served; upstream back with it: no change at Envoy.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Agent } from "../../../src/agent/agent.js";
import { fileLayout, kubeletDataLink } from "../../../src/envoy/layout.js";
import type { EnvoyResources } from "../../../src/envoy/resources.js";
import type { GatewayProxy } from "../../../src/model/proxy.js";
import { gatewayBootstrap } from "../../../src/publish/bootstrap.js";
import type { XdsServer } from "../../../src/xds/server.js";
import { SnapshotStore } from "../../../src/xds/store.js";
import { serviceManifest } from "../compile/compiled-gateway.js";
import { printEnvoyLogOnFailure, startEnvoy } from "../../support/envoy.js";
import type { Envoy } from "../../support/envoy.js";
import { freePort, httpRequest, waitFor } from "../../support/net.js";
import { startHttpbin } from "../../support/upstreams/index.js";
import type { Httpbin } from "../../support/upstreams/index.js";
import { compile, gatewayProxy, proxyKey, pushedTypes, pushesSince, startServer, yaml } from "../xds/harness.js";

const gateway = yaml({
  apiVersion: "networking.istio.io/v1",
  kind: "Gateway",
  metadata: { name: "web-gateway", namespace: "shop" },
  spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["web.example.test"] }] },
});

function virtualService(answer: string): string {
  return yaml({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "web", namespace: "shop" },
    spec: {
      hosts: ["web.example.test"],
      gateways: ["web-gateway"],
      http: [
        { match: [{ uri: { prefix: "/which" } }], directResponse: { status: 200, body: { string: answer } } },
        { route: [{ destination: { host: "web", port: { number: 80 } } }] },
      ],
    },
  });
}

/** kubelet's atomic writer: a new `..<version>` folder, `..data` swapped to it by one rename, links per key. */
function writeVolume(dir: string, resources: EnvoyResources, version: number): void {
  const versionDir = `..v${version}`;
  mkdirSync(join(dir, versionDir));
  const files = fileLayout(resources, dir, kubeletDataLink);
  for (const file of files) writeFileSync(join(dir, versionDir, file.name), file.content);
  symlinkSync(versionDir, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, kubeletDataLink));
  for (const file of files) {
    try {
      symlinkSync(join(kubeletDataLink, file.name), join(dir, file.name));
    } catch {
      // the key's link exists from an earlier version
    }
  }
  for (const entry of readdirSync(dir)) if (entry.startsWith("..v") && entry !== versionDir) rmSync(join(dir, entry), { recursive: true, force: true });
}

describe("pilotfish agent: upstream ADS relayed, mounted files as the durable record", { timeout: 300_000 }, () => {
  let upstreamA: Httpbin;
  let upstreamB: Httpbin;
  let proxy: GatewayProxy;
  let dir: string;
  let agent: Agent;
  let envoy: Envoy | undefined;
  let store: SnapshotStore;
  let server: XdsServer | undefined;
  let xdsPort: number;

  printEnvoyLogOnFailure(() => (envoy ? [envoy] : []));

  const resources = (answer: string, endpoints: Httpbin): EnvoyResources =>
    compile([gateway, virtualService(answer), serviceManifest("web", "shop", 80, [{ host: endpoints.host, port: endpoints.port }])], proxy);
  const which = async (): Promise<string> => {
    const response = await httpRequest({ url: `http://127.0.0.1:${proxy.servicePorts[0]!.targetPort}/which`, headers: { host: "web.example.test" } });
    return response.status === 200 ? response.body : `status ${response.status}`;
  };
  const upstreamOfRoot = async (): Promise<string | undefined> => {
    const response = await httpRequest({ url: `http://127.0.0.1:${proxy.servicePorts[0]!.targetPort}/`, headers: { host: "web.example.test" } });
    return response.headers["x-upstream"] as string | undefined;
  };
  const churn = async (): Promise<number[]> => [
    (await envoy!.stat("listener_manager.listener_modified")) ?? 0,
    (await envoy!.stat("listener_manager.listener_create_success")) ?? 0,
    (await envoy!.stat("cluster_manager.cluster_modified")) ?? 0,
    (await envoy!.stat("cluster_manager.cluster_added")) ?? 0,
  ];
  /** The agent's upstream stream, every type SYNCED at the upstream server (its ACKs relayed). */
  const upstreamSynced = async (what: string): Promise<void> => {
    await waitFor(
      () => {
        const streams = server!.syncStatus().proxies.filter((p) => p.proxy === proxyKey);
        return streams.length === 1 && Object.values(streams[0]!.types).every((t) => t.status === "SYNCED");
      },
      { timeoutMs: 30_000, intervalMs: 20, what: `${what}: the agent's upstream stream SYNCED (${JSON.stringify(server!.syncStatus().proxies.map((p) => p.types))})` },
    );
  };

  before(async () => {
    upstreamA = await startHttpbin({ host: "127.0.0.1", name: "a" });
    upstreamB = await startHttpbin({ host: "127.0.0.1", name: "b" });
    proxy = await gatewayProxy([80]);
    dir = mkdtempSync(join(tmpdir(), "pilotfish-agent-"));
    mkdirSync(join(dir, "config"));
    writeVolume(join(dir, "config"), resources("files-1", upstreamA), 1);
    xdsPort = await freePort();
    store = new SnapshotStore();
    const socket = join(dir, "agent.sock");
    agent = new Agent({
      listen: socket,
      configDir: join(dir, "config"),
      upstream: `127.0.0.1:${xdsPort}`,
      security: { serverName: "pilotfish.istio-system.svc" },
      namespace: "istio-system",
      workloadName: "istio-ingressgateway",
      podName: "istio-ingressgateway-5d8f7c9b4-x2kqv",
      podIp: "127.0.0.1",
      logger: { info: () => undefined, warn: () => undefined, debug: () => undefined },
    });
    await agent.start();
    const bootstrap = gatewayBootstrap({
      mode: "agent",
      agentSocket: socket,
      configDir: "/unused",
      adminPort: await freePort(),
      statusPort: await freePort(),
      proxyName: "istio-ingressgateway",
      proxyNamespace: "istio-system",
    });
    envoy = await startEnvoy({ bootstrap, name: "agent-envoy", readyTimeoutMs: 60_000 });
  });

  after(async () => {
    await envoy?.stop();
    await agent?.close();
    await server?.close();
    await upstreamA?.close();
    await upstreamB?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("upstream down at start: Envoy serves the mounted folder over the agent's socket", async () => {
    await waitFor(async () => (await which()) === "files-1", { timeoutMs: 30_000, what: "the folder's route served" });
    assert.equal(await upstreamOfRoot(), "a");
    assert.equal(agent.source, "files");
    assert.equal(agent.upstreamLive, false);
  });

  test("upstream up with the same config: the agent switches to it and Envoy sees no change", async () => {
    const pushesBefore = agent.server.pushLog.length;
    const before = await churn();
    store.setSnapshot(proxyKey, resources("files-1", upstreamA));
    ({ server } = await startServer(xdsPort, store));
    await waitFor(() => agent.upstreamLive, { timeoutMs: 30_000, what: "the agent streaming from upstream" });
    assert.equal(agent.source, "upstream");
    await upstreamSynced("switch");
    assert.deepEqual(pushesSince(agent.server, pushesBefore), [], "nothing pushed to Envoy on the switch");
    assert.deepEqual(await churn(), before, "no listener or cluster created or modified");
    assert.equal(await which(), "files-1");
  });

  test("a route change upstream reaches Envoy as RDS alone; an endpoint change as EDS alone; both ACKed upstream", async () => {
    let mark = agent.server.pushLog.length;
    const upstreamMark = server!.pushLog.length;
    assert.deepEqual([...store.setSnapshot(proxyKey, resources("ads-2", upstreamA))], ["RDS"]);
    await waitFor(async () => (await which()) === "ads-2", { timeoutMs: 30_000, what: "the new route served" });
    await upstreamSynced("route change");
    assert.deepEqual(pushedTypes(pushesSince(agent.server, mark)), ["RDS"]);
    assert.deepEqual(pushedTypes(pushesSince(server!, upstreamMark)), ["RDS"]);

    mark = agent.server.pushLog.length;
    store.setSnapshot(proxyKey, resources("ads-2", upstreamB));
    await waitFor(async () => (await upstreamOfRoot()) === "b", { timeoutMs: 30_000, what: "traffic on the new endpoint" });
    await upstreamSynced("endpoint change");
    assert.deepEqual(pushedTypes(pushesSince(agent.server, mark)), ["EDS"]);
  });

  test("a config Envoy rejects is NACKed upstream with Envoy's message; the last good config keeps serving", async () => {
    const good = resources("ads-2", upstreamB);
    const bad = structuredClone(good);
    const route = bad.routes.find((r) => r.name === "http.8080") ?? bad.routes[0]!;
    const hosts = route.virtual_hosts as Array<Record<string, unknown>>;
    hosts.push({ ...hosts[0]!, name: "duplicate" });
    const nacked = new Promise<{ message: string; type: string }>((resolve) => server!.events.once("nack", resolve));
    store.setSnapshot(proxyKey, bad);
    const nack = await nacked;
    assert.equal(nack.type, "RDS");
    assert.match(nack.message, /unique|duplicate/i, "Envoy's own message reaches the operator");
    const status = server!.syncStatus().proxies.find((p) => p.proxy === proxyKey)!;
    assert.equal(status.types.RDS!.status, "NACKED");
    assert.equal(await which(), "ads-2");
    store.setSnapshot(proxyKey, good);
    await upstreamSynced("good config after the NACK");
    assert.equal(await which(), "ads-2");
  });

  test("upstream gone: a new folder version is served; upstream back with it: Envoy sees no change", async () => {
    await server!.close();
    server = undefined;
    await waitFor(() => !agent.upstreamLive, { timeoutMs: 30_000, what: "the agent noticing upstream is gone" });
    assert.equal(await which(), "ads-2", "the last config keeps serving");
    writeVolume(join(dir, "config"), resources("files-3", upstreamA), 3);
    await waitFor(async () => (await which()) === "files-3", { timeoutMs: 30_000, what: "the new folder version served" });
    assert.equal(agent.source, "files");
    assert.equal(await upstreamOfRoot(), "a");

    const pushesBefore = agent.server.pushLog.length;
    const before = await churn();
    store.setSnapshot(proxyKey, resources("files-3", upstreamA));
    ({ server } = await startServer(xdsPort, store));
    await waitFor(() => agent.upstreamLive, { timeoutMs: 30_000, what: "the agent streaming from upstream again" });
    await upstreamSynced("switch back");
    assert.deepEqual(pushesSince(agent.server, pushesBefore), [], "nothing pushed to Envoy on the switch back");
    assert.deepEqual(await churn(), before);
  });
});
