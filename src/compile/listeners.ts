/**
 * Listener assembly: the servers of all selected Gateways grouped by listener port, checked for
 * conflicts, and each translated by the builder for its kind.
 */
import type { CompileOptions, Diagnostic } from "./output.js";
import type { EnvoyJson, EnvoyResource } from "../envoy/resources.js";
import type { GatewayProxy } from "../model/proxy.js";
import type { Snapshot } from "../model/snapshot.js";
import type { Gateway, Server } from "../model/istio.js";
import type { BoundVirtualService, ClusterRef, ServerContext, ServerKind } from "./filter-chains/types.js";
import { serverBuilders } from "./filter-chains/registry.js";
import { buildHttpPort } from "./filter-chains/http.js";
import { httpConnectionManager, listener } from "../envoy/listener.js";
import { bindVirtualServices, listenerPortFor, namespaceOf, resourceKey } from "./binding.js";
import { parseServerHost } from "./hosts.js";
import { resolveDestination } from "./clusters.js";
import { buildRouteConfiguration } from "./virtual-hosts.js";
import { hcmSettings, listenerAccessLogs, meshConfig } from "./mesh.js";

export interface PlacedServer {
  gateway: Gateway;
  server: Server;
  serverIndex: number;
  listenerPort: number;
  kind: ServerKind;
}

export interface BuiltListeners {
  listeners: EnvoyResource[];
  routes: EnvoyResource[];
  secrets: EnvoyResource[];
  clusterRefs: ClusterRef[];
  diagnostics: Diagnostic[];
}

const passthroughModes = new Set(["PASSTHROUGH", "AUTO_PASSTHROUGH"]);

export function serverKind(server: Server): ServerKind {
  const protocol = (server.port.protocol ?? "").toUpperCase();
  const mode = server.tls?.mode ?? "SIMPLE";
  if (protocol === "HTTP" || protocol === "HTTP2" || protocol === "GRPC") return "http";
  if (protocol === "HTTPS") return passthroughModes.has(mode) ? "passthrough" : "https";
  if (protocol === "TLS") return passthroughModes.has(mode) ? "passthrough" : "tls";
  return "tcp";
}

/** Plain-text kinds own the listener's default filter chain; only one such protocol per port. */
function plaintextFamily(kind: ServerKind): "http" | "tcp" | undefined {
  return kind === "http" ? "http" : kind === "tcp" ? "tcp" : undefined;
}

function serverDiagnostic(gateway: Gateway, serverIndex: number, severity: Diagnostic["severity"], field: string, message: string): Diagnostic {
  const suffix = field ? `.${field}` : "";
  return { severity, kind: "Gateway", namespace: namespaceOf(gateway), name: gateway.metadata.name, field: `spec.servers[${serverIndex}]${suffix}`, message };
}

function hostNames(gateway: Gateway, server: Server): string[] {
  return (server.hosts ?? []).map((text) => parseServerHost(text, namespaceOf(gateway)).host);
}

/** Servers in the order Istio merges them (Gateways in precedence order, servers as written). */
export function placeServers(gateways: readonly Gateway[], proxy: GatewayProxy): PlacedServer[] {
  const placed: PlacedServer[] = [];
  for (const gateway of gateways) {
    (gateway.spec.servers ?? []).forEach((server, serverIndex) => {
      placed.push({ gateway, server, serverIndex, listenerPort: listenerPortFor(server.port.number, proxy), kind: serverKind(server) });
    });
  }
  return placed;
}

export function buildListeners(snapshot: Snapshot, proxy: GatewayProxy, options: CompileOptions, gateways: readonly Gateway[]): BuiltListeners {
  const out: BuiltListeners = { listeners: [], routes: [], secrets: [], clusterRefs: [], diagnostics: [] };
  const byPort = new Map<number, PlacedServer[]>();
  for (const placed of placeServers(gateways, proxy)) {
    const list = byPort.get(placed.listenerPort) ?? [];
    list.push(placed);
    byPort.set(placed.listenerPort, list);
  }

  for (const port of [...byPort.keys()].sort((a, b) => a - b)) {
    const accepted: PlacedServer[] = [];
    // istiod's CheckDuplicates (pilot/pkg/model/gateway.go MergeGateways) runs only for servers
    // with `tls` and compares the hosts as written (`ns/host`). pilotfish compares TLS servers
    // (HTTPS, TLS, passthrough) on the host name without `ns/`: two namespaces claiming the same
    // SNI would give two identical filter chains, which Envoy rejects (istio#24638).
    const writtenTlsHosts = new Set<string>();
    const tlsHostNames = new Set<string>();
    let family: "http" | "tcp" | undefined;
    for (const placed of byPort.get(port) ?? []) {
      const { gateway, server, serverIndex } = placed;
      const names = hostNames(gateway, server).map((h) => h.toLowerCase());
      const written = (server.hosts ?? []).map((h) => h.toLowerCase());
      const isTlsKind = placed.kind !== "http" && placed.kind !== "tcp";
      let duplicates: string[] = [];
      if (isTlsKind) duplicates = names.filter((h) => tlsHostNames.has(h));
      else if (server.tls !== undefined) duplicates = written.filter((h) => writtenTlsHosts.has(h));
      if (duplicates.length > 0) {
        out.diagnostics.push(
          serverDiagnostic(gateway, serverIndex, "warning", "hosts", `skipping server on gateway ${resourceKey(gateway)}, duplicate host names: ${duplicates.join(", ")}`),
        );
        continue;
      }
      const thisFamily = plaintextFamily(placed.kind);
      if (thisFamily && family && thisFamily !== family) {
        out.diagnostics.push(
          serverDiagnostic(gateway, serverIndex, "warning", "port", `skipping server on gateway ${resourceKey(gateway)}: ${server.port.protocol} conflicts with the existing ${family.toUpperCase()} server on port ${port}`),
        );
        continue;
      }
      family = family ?? thisFamily;
      if (server.tls !== undefined) for (const h of written) writtenTlsHosts.add(h);
      if (isTlsKind) for (const h of names) tlsHostNames.add(h);
      accepted.push(placed);
    }

    const filterChains: EnvoyJson[] = [];
    const httpServers = accepted.filter((p) => p.kind === "http");
    if (httpServers.length > 0) {
      const http = buildHttpPort(
        port,
        httpServers.map((p) => ({ gateway: p.gateway, server: p.server, virtualServices: bindVirtualServices(snapshot, proxy, p.gateway, p.server) })),
        snapshot,
        options,
        proxy,
      );
      filterChains.push(http.filterChain);
      out.routes.push(http.route);
      out.clusterRefs.push(...http.clusterRefs);
      out.diagnostics.push(...http.diagnostics);
    }

    for (const placed of accepted.filter((p) => p.kind !== "http")) {
      const kind = placed.kind as Exclude<ServerKind, "http">;
      const builder = serverBuilders[kind];
      if (!builder) {
        out.diagnostics.push(
          serverDiagnostic(placed.gateway, placed.serverIndex, "warning", "", `${placed.server.port.protocol} server (${kind}) is not compiled yet; server skipped`),
        );
        continue;
      }
      const result = builder(serverContext(snapshot, proxy, options, placed, bindVirtualServices(snapshot, proxy, placed.gateway, placed.server)));
      out.diagnostics.push(...result.diagnostics);
      // Envoy rejects a listener whose filter chains share a match: keep the first, report the rest.
      const chains: EnvoyJson[] = [];
      for (const chain of result.filterChains) {
        const key = JSON.stringify(chain.filter_chain_match ?? {});
        if (filterChains.some((existing) => JSON.stringify(existing.filter_chain_match ?? {}) === key)) {
          out.diagnostics.push(
            serverDiagnostic(placed.gateway, placed.serverIndex, "warning", "", `conflicting filter chain on port ${port} (match ${key}); server skipped`),
          );
          chains.length = 0;
          break;
        }
        chains.push(chain);
      }
      if (chains.length === 0) continue;
      filterChains.push(...chains);
      out.routes.push(...(result.routes ?? []));
      out.secrets.push(...(result.secrets ?? []));
      out.clusterRefs.push(...(result.clusterRefs ?? []));
    }

    if (filterChains.length > 0) {
      const mesh = meshConfig(options);
      out.listeners.push(
        listener(`0.0.0.0_${port}`, "0.0.0.0", port, filterChains, {
          accessLog: listenerAccessLogs(mesh),
          transportSocketConnectTimeoutMs: mesh.gatewayTransportSocketConnectTimeoutMs,
        }),
      );
    }
  }
  return out;
}

export function serverContext(
  snapshot: Snapshot,
  proxy: GatewayProxy,
  options: CompileOptions,
  placed: PlacedServer,
  virtualServices: readonly BoundVirtualService[],
): ServerContext {
  const { gateway, server, serverIndex, listenerPort } = placed;
  return {
    snapshot,
    proxy,
    options,
    gateway,
    server,
    serverIndex,
    listenerPort,
    virtualServices,
    hostNames: hostNames(gateway, server),
    httpConnectionManager: (routeConfigName, statPrefix) => httpConnectionManager(routeConfigName, statPrefix, hcmSettings(meshConfig(options))),
    routeConfiguration: (routeConfigName) => {
      const built = buildRouteConfiguration(routeConfigName, [{ gateway, server, virtualServices }], snapshot, options, proxy);
      return { routeConfiguration: built.routeConfiguration, clusterRefs: built.clusterRefs, diagnostics: built.diagnostics };
    },
    clusterFor: (destination, virtualService, field) => resolveDestination(snapshot, destination, virtualService, field, server.port.number),
    serverDiagnostic: (severity, field, message) => serverDiagnostic(gateway, serverIndex, severity, field, message),
  };
}
