/**
 * The ADS scenarios, run by ads-sotw.test.ts (`api_type: GRPC`) and ads-delta.test.ts
 * (`DELTA_GRPC`) against a real Envoy on 127.0.0.1: the compiled
 * gateway served over ADS equals what Envoy loads from files; a route change pushes RDS alone, an
 * endpoint change EDS alone, a credential change SDS alone; a config Envoy rejects is NACKed,
 * recorded with Envoy's message, not re-sent, and the previous config keeps serving; Envoy
 * restarted converges; the server restarted is reconnected to with no version churn.
 */
import { after, before, describe, test } from "node:test";
import type { PushRecord } from "../../../src/xds/server.js";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCertificateChainSet } from "../../../src/pki/index.js";
import { fileBootstrap } from "../../../src/envoy/bootstrap.js";
import { fileLayout } from "../../../src/envoy/layout.js";
import type { EnvoyResources } from "../../../src/envoy/resources.js";
import type { GatewayProxy } from "../../../src/model/proxy.js";
import type { XdsServer } from "../../../src/xds/server.js";
import { SnapshotStore } from "../../../src/xds/store.js";
import { serviceManifest } from "../compile/compiled-gateway.js";
import { secretManifest } from "../compile/tls-fixtures.js";
import { printEnvoyLogOnFailure, startEnvoy } from "../../support/envoy.js";
import type { Envoy } from "../../support/envoy.js";
import { httpRequest, waitFor } from "../../support/net.js";
import { startHttpbin } from "../../support/upstreams/index.js";
import type { Httpbin } from "../../support/upstreams/index.js";
import { compile, gatewayProxy, proxyKey, pushedTypes, pushesSince, startAdsEnvoy, startServer, waitSynced, yaml } from "./harness.js";

const gateway = yaml({
  apiVersion: "networking.istio.io/v1",
  kind: "Gateway",
  metadata: { name: "web-gateway", namespace: "shop" },
  spec: {
    selector: { istio: "ingressgateway" },
    servers: [
      { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["web.example.test"] },
      { port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["secure.example.test"], tls: { mode: "SIMPLE", credentialName: "web-cred" } },
    ],
  },
});

function virtualService(extraRoutes: object[] = [], service = "web"): string {
  return yaml({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "web", namespace: "shop" },
    spec: {
      hosts: ["web.example.test", "secure.example.test"],
      gateways: ["web-gateway"],
      http: [...extraRoutes, { route: [{ destination: { host: service, port: { number: 80 } } }] }],
    },
  });
}

const moved = { match: [{ uri: { prefix: "/moved" } }], directResponse: { status: 299, body: { string: "moved here" } } };

export function adsSuite(apiType: "GRPC" | "DELTA_GRPC"): void {
describe(`ADS ${apiType === "GRPC" ? "state of the world" : "delta"} with a real Envoy`, { timeout: 600_000 }, () => {
  let upstreamA: Httpbin;
  let upstreamB: Httpbin;
  let proxy: GatewayProxy;
  let certs: { one: { cert: string; key: string; ca: string }; two: { cert: string; key: string; ca: string } };
  let store: SnapshotStore;
  let server: XdsServer;
  let xdsPort: number;
  let envoy: Envoy | undefined;
  let manifests: { vs: string; service: string; endpoints: Httpbin; cert: "one" | "two" };

  printEnvoyLogOnFailure(() => (envoy ? [envoy] : []));

  const resources = (): EnvoyResources => {
    const material = certs[manifests.cert];
    return compile(
      [
        gateway,
        manifests.vs,
        serviceManifest(manifests.service, "shop", 80, [{ host: manifests.endpoints.host, port: manifests.endpoints.port }]),
        secretManifest("shop", "web-cred", { "tls.crt": material.cert, "tls.key": material.key }, "kubernetes.io/tls"),
      ],
      proxy,
    );
  };
  const get = (host: string, path: string) => httpRequest({ url: `http://127.0.0.1:${proxy.servicePorts[0]!.targetPort}${path}`, headers: { host } });
  const getTls = (ca: string) =>
    httpRequest({ url: `https://127.0.0.1:${proxy.servicePorts[1]!.targetPort}/`, servername: "secure.example.test", ca, headers: { host: "secure.example.test" } });

  before(async () => {
    upstreamA = await startHttpbin({ host: "127.0.0.1", name: "a" });
    upstreamB = await startHttpbin({ host: "127.0.0.1", name: "b" });
    proxy = await gatewayProxy([80, 443]);
    const one = await createCertificateChainSet({ name: "one", serverHosts: ["secure.example.test"] });
    const two = await createCertificateChainSet({ name: "two", serverHosts: ["secure.example.test"] });
    certs = {
      one: { cert: one.server.fullChainPem, key: one.server.privateKeyPem, ca: one.root.certificatePem },
      two: { cert: two.server.fullChainPem, key: two.server.privateKeyPem, ca: two.root.certificatePem },
    };
    manifests = { vs: virtualService(), service: "web", endpoints: upstreamA, cert: "one" };
    store = new SnapshotStore();
    ({ server, port: xdsPort } = await startServer(0, store));
  });

  after(async () => {
    await envoy?.stop();
    await server?.close();
    await upstreamA?.close();
    await upstreamB?.close();
  });

  test("Envoy fed over ADS holds exactly what an Envoy reading the same config from files holds", async () => {
    const compiled = resources();
    const dir = mkdtempSync(join(tmpdir(), "pilotfish-xds-files-"));
    let fileEnvoy: Envoy | undefined;
    try {
      for (const file of fileLayout(compiled, dir)) writeFileSync(join(dir, file.name), file.content);
      fileEnvoy = await startEnvoy({ bootstrap: fileBootstrap(dir, { adminPort: 0 }), name: "xds-files" });
      await waitFor(async () => (await get("web.example.test", "/")).status === 200, { timeoutMs: 30_000, what: "file Envoy serving" });
      const fromFiles = normalisedDump(await fileEnvoy.configDump("include_eds"), dir);
      await fileEnvoy.stop();
      fileEnvoy = undefined;

      store.setSnapshot(proxyKey, compiled);
      envoy = await startAdsEnvoy(`xds-${apiType}`, xdsPort, apiType);
      await waitSynced(server, "first push");
      const overAds = normalisedDump(await envoy.configDump("include_eds"), dir);
      assert.deepEqual(overAds, fromFiles);
      assert.ok(Object.keys(overAds).length >= 5, `dump holds listeners, routes, clusters, endpoints, secrets: ${Object.keys(overAds).join(", ")}`);
    } finally {
      await fileEnvoy?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    const response = await get("web.example.test", "/hello");
    assert.equal(response.status, 200);
    assert.equal(response.headers["x-upstream"], "a");
    const tls = await getTls(certs.one.ca);
    assert.equal(tls.status, 200);
  });

  test("a route change pushes RDS alone", async () => {
    const mark = server.pushLog.length;
    manifests.vs = virtualService([moved]);
    assert.deepEqual([...store.setSnapshot(proxyKey, resources())], ["RDS"]);
    await waitFor(async () => (await get("web.example.test", "/moved")).status === 299, { timeoutMs: 30_000, what: "the new route served" });
    await waitSynced(server, "route change");
    assert.deepEqual(pushedTypes(pushesSince(server, mark)), ["RDS"]);
  });

  test("an endpoint change pushes EDS alone", async () => {
    const mark = server.pushLog.length;
    manifests.endpoints = upstreamB;
    store.setSnapshot(proxyKey, resources());
    await waitFor(async () => (await get("web.example.test", "/")).headers["x-upstream"] === "b", { timeoutMs: 30_000, what: "traffic on the new endpoint" });
    await waitSynced(server, "endpoint change");
    assert.deepEqual(pushedTypes(pushesSince(server, mark)), ["EDS"]);
  });

  test("a credential change pushes SDS alone", async () => {
    const mark = server.pushLog.length;
    manifests.cert = "two";
    store.setSnapshot(proxyKey, resources());
    await waitFor(
      async () => {
        try {
          return (await getTls(certs.two.ca)).status === 200;
        } catch {
          return false;
        }
      },
      { timeoutMs: 30_000, what: "the new certificate served" },
    );
    await waitSynced(server, "credential change");
    assert.deepEqual(pushedTypes(pushesSince(server, mark)), ["SDS"]);
  });

  test("a cluster no longer referenced is removed from Envoy", async () => {
    const mark = server.pushLog.length;
    const clusterNames = async () => ((await envoy!.clusters()).cluster_statuses ?? []).map((c) => c.name).filter((n) => n.startsWith("outbound|"));
    assert.deepEqual(await clusterNames(), ["outbound|80||web.shop.svc.cluster.local"]);
    manifests = { ...manifests, service: "web2", vs: virtualService([moved], "web2") };
    store.setSnapshot(proxyKey, resources());
    await waitFor(async () => JSON.stringify(await clusterNames()) === JSON.stringify(["outbound|80||web2.shop.svc.cluster.local"]), { timeoutMs: 30_000, what: "the old cluster removed" });
    await waitSynced(server, "cluster swap");
    assert.equal((await get("web.example.test", "/")).headers["x-upstream"], "b");
    const pushes = pushesSince(server, mark);
    assert.deepEqual(pushedTypes(pushes), ["CDS", "EDS", "RDS"]);
    if (apiType === "DELTA_GRPC") {
      assert.ok(pushes.some((p) => p.type === "CDS" && p.removed.includes("outbound|80||web.shop.svc.cluster.local")), `CDS removed_resources: ${JSON.stringify(pushes)}`);
    }
  });

  test("a config Envoy rejects is NACKed with Envoy's message, not re-sent, and the last good config keeps serving", async () => {
    const good = resources();
    const bad = structuredClone(good);
    // Duplicate domains in one route configuration: Envoy refuses the whole RouteConfiguration.
    const route = bad.routes.find((r) => r.name === "http.8080") ?? bad.routes[0]!;
    const hosts = route.virtual_hosts as Array<Record<string, unknown>>;
    hosts.push({ ...hosts[0]!, name: "duplicate" });
    const mark = server.pushLog.length;
    const nacked = new Promise<{ message: string }>((resolve) => server.events.once("nack", resolve));
    store.setSnapshot(proxyKey, bad);
    const nack = await nacked;
    assert.match(nack.message, /unique|duplicate/i);
    const status = server.syncStatus().proxies.find((p) => p.proxy === proxyKey)!;
    assert.equal(status.types.RDS!.status, "NACKED");
    assert.match(status.types.RDS!.error?.message ?? "", /unique|duplicate/i);
    assert.notEqual(status.types.RDS!.versionAcked, status.types.RDS!.versionSent);
    // Not re-sent: give Envoy and the server time to loop if they were going to.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const pushes = pushesSince(server, mark);
    assert.deepEqual(pushes.map((p) => p.type), ["RDS"], `one RDS push, no loop: ${JSON.stringify(pushes)}`);
    // The same bad config again is not pushed again.
    store.setSnapshot(proxyKey, bad);
    assert.equal(pushesSince(server, mark).length, 1);
    assert.equal((await get("web.example.test", "/moved")).status, 299, "the last good routes still serve");
    // The next good version is pushed and ACKed.
    store.setSnapshot(proxyKey, good);
    await waitSynced(server, "good config after a NACK");
    assert.equal(server.syncStatus().proxies.find((p) => p.proxy === proxyKey)!.types.RDS!.error, undefined);
  });

  test("Envoy restarted converges again", async () => {
    await envoy?.stop();
    envoy = undefined;
    await waitFor(() => server.connectionCount(proxyKey) === 0, { timeoutMs: 30_000, what: "the old stream closed" });
    envoy = await startAdsEnvoy(`xds-${apiType}-2`, xdsPort, apiType);
    await waitSynced(server, "restarted Envoy");
    assert.equal((await get("web.example.test", "/moved")).status, 299);
    assert.equal((await get("web.example.test", "/")).headers["x-upstream"], "b");
  });

  test("server restarted: Envoy keeps serving, reconnects, nothing changes", async () => {
    const before = server.syncStatus().proxies.find((p) => p.proxy === proxyKey)!;
    const modified = async () => [await envoy!.stat("listener_manager.listener_modified"), await envoy!.stat("cluster_manager.cluster_modified"), await envoy!.stat("listener_manager.listener_create_success")];
    const churnBefore = await modified();
    const compiled = resources();
    await server.close();
    assert.equal((await get("web.example.test", "/moved")).status, 299, "Envoy serves while the server is down");
    const restartedStore = new SnapshotStore();
    restartedStore.setSnapshot(proxyKey, compiled);
    ({ server } = await startServer(xdsPort, restartedStore));
    store = restartedStore;
    await waitSynced(server, "reconnected to the restarted server");
    const afterRestart = server.syncStatus().proxies.find((p) => p.proxy === proxyKey)!;
    for (const type of ["LDS", "RDS", "CDS", "EDS", "SDS"]) {
      assert.equal(afterRestart.types[type]!.versionAcked, before.types[type]!.versionAcked, `${type} version unchanged across the restart`);
    }
    assert.deepEqual(await modified(), churnBefore, "no listener or cluster was modified or re-created");
    if (apiType === "DELTA_GRPC") {
      // initial_resource_versions: nothing Envoy already holds is sent again.
      const resent = server.pushLog.flatMap((record: PushRecord) => [...record.resources, ...record.removed]);
      assert.deepEqual(resent, [], "the reconnect re-sent nothing");
    }
    assert.equal((await get("web.example.test", "/moved")).status, 299);
  });
});
}

/** The dynamic resources of a config dump by type and name, with the file-only parts normalised. */
function normalisedDump(dump: { configs: Array<Record<string, unknown>> }, dir: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const text = JSON.stringify(dump.configs);
  const configs = JSON.parse(text) as Array<Record<string, unknown>>;
  const take = (kind: string, items: unknown, inner: string): void => {
    for (const item of (items as Array<Record<string, unknown>> | undefined) ?? []) {
      const body = (item[inner] ?? item) as Record<string, unknown>;
      const name = String(body.name ?? body.cluster_name ?? "");
      out[`${kind} ${name}`] = scrub(body, dir);
    }
  };
  for (const config of configs) {
    const type = String(config["@type"]);
    if (type.endsWith("ListenersConfigDump")) take("listener", config.dynamic_listeners, "active_state");
    if (type.endsWith("ClustersConfigDump")) take("cluster", config.dynamic_active_clusters, "cluster");
    if (type.endsWith("RoutesConfigDump")) take("route", config.dynamic_route_configs, "route_config");
    if (type.endsWith("EndpointsConfigDump")) take("endpoints", config.dynamic_endpoint_configs, "endpoint_config");
    if (type.endsWith("SecretsConfigDump")) take("secret", config.dynamic_active_secrets, "secret");
  }
  return out;
}

/** Config sources differ by design (files vs ADS): replace every one by a marker. */
function scrub(value: unknown, dir: string): unknown {
  if (Array.isArray(value)) return value.map((item) => scrub(item, dir));
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === "version_info" || key === "last_updated") continue;
    if (key === "config_source" || key === "eds_config" || key === "sds_config") {
      out[key] = "<config source>";
      continue;
    }
    out[key] = scrub(child, dir);
  }
  return out;
}
