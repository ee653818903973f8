/**
 * Test helpers for the ADS tests: a gateway compiled from manifests (listeners rebound to
 * 127.0.0.1 on free ports), an XdsServer on 127.0.0.1, and Envoy with an ADS bootstrap.
 */
import { dump } from "js-yaml";
import { compileGateway } from "../../../src/compile/compile.js";
import type { EnvoyResources } from "../../../src/envoy/resources.js";
import type { GatewayProxy } from "../../../src/model/proxy.js";
import { parseManifests } from "../../../src/model/manifests.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import { adsBootstrap } from "../../../src/xds/bootstrap.js";
import type { XdsType } from "../../../src/xds/resources.js";
import { XdsServer } from "../../../src/xds/server.js";
import type { PushRecord } from "../../../src/xds/server.js";
import { SnapshotStore } from "../../../src/xds/store.js";
import { startEnvoy } from "../../support/envoy.js";
import type { Envoy } from "../../support/envoy.js";
import { freePort, waitFor } from "../../support/net.js";

export const proxyKey = "istio-system/istio-ingressgateway";

export async function gatewayProxy(serverPorts: number[]): Promise<GatewayProxy> {
  const proxy: GatewayProxy = { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [] };
  for (const port of serverPorts) proxy.servicePorts.push({ port, targetPort: await freePort() });
  return proxy;
}

/** Compiles; listeners bind 127.0.0.1 instead of 0.0.0.0 (tests stay on loopback). */
export function compile(manifests: string[], proxy: GatewayProxy): EnvoyResources {
  const result = compileGateway(buildSnapshot(parseManifests(manifests, "default").inputs), proxy);
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0) throw new Error(`compile errors: ${JSON.stringify(errors)}`);
  return JSON.parse(JSON.stringify(result.resources).replaceAll('"address":"0.0.0.0"', '"address":"127.0.0.1"')) as EnvoyResources;
}

export function yaml(doc: unknown): string {
  return dump(doc, { lineWidth: -1 });
}

export async function startServer(port = 0, store = new SnapshotStore()): Promise<{ server: XdsServer; port: number }> {
  const server = new XdsServer({ store, authentication: "none" });
  const bound = await server.listen(`127.0.0.1:${port}`);
  return { server, port: Number(bound.slice(bound.lastIndexOf(":") + 1)) };
}

export async function startAdsEnvoy(name: string, xdsPort: number, apiType: "GRPC" | "DELTA_GRPC"): Promise<Envoy> {
  const bootstrap = adsBootstrap({
    xdsHost: "127.0.0.1",
    xdsPort,
    apiType,
    adminPort: 0,
    namespace: "istio-system",
    workloadName: "istio-ingressgateway",
    podName: "istio-ingressgateway-5d8f7c9b4-x2kqv",
    labels: { istio: "ingressgateway" },
  });
  return startEnvoy({ bootstrap, name, readyTimeoutMs: 60_000 });
}

/** Every type the proxy's connection subscribed to is SYNCED (and at least LDS and CDS). */
export async function waitSynced(server: XdsServer, what: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    () => {
      const connections = server.syncStatus().proxies.filter((p) => p.proxy === proxyKey);
      if (connections.length !== 1) return false;
      const types = Object.entries(connections[0]!.types).filter(([, t]) => t.subscribed);
      const names = types.map(([type]) => type);
      return names.includes("LDS") && names.includes("CDS") && types.every(([, t]) => t.status === "SYNCED");
    },
    { timeoutMs, intervalMs: 20, what: `${what}: every subscribed type SYNCED (${JSON.stringify(server.syncStatus().proxies.map((p) => p.types))})` },
  );
}

/** Pushes recorded after `mark` (an index into server.pushLog). */
export function pushesSince(server: XdsServer, mark: number): PushRecord[] {
  return server.pushLog.slice(mark);
}

export function pushedTypes(records: PushRecord[]): XdsType[] {
  return [...new Set(records.map((record) => record.type))].sort();
}
