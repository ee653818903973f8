/**
 * Virtual hosts for one route configuration: every HTTP server sharing it contributes the hosts
 * its bound VirtualServices serve, with their routes in order. Hosts served by several
 * VirtualServices get one virtual host with the routes of each, in precedence order (Envoy
 * rejects duplicate domains).
 */
import type { CompileOptions, Diagnostic } from "./output.js";
import type { EnvoyJson, EnvoyResource } from "../envoy/resources.js";
import type { Snapshot } from "../model/snapshot.js";
import type { GatewayProxy } from "../model/proxy.js";
import type { Gateway, Server } from "../model/istio.js";
import type { BoundVirtualService, ClusterRef } from "./filter-chains/types.js";
import { blackholeVirtualHost, routeConfiguration, virtualHost } from "../envoy/route.js";
import { parseServerHost } from "./hosts.js";
import { namespaceOf, resourceKey } from "./binding.js";
import { consistentHashFor, destinationWarnings, resolveDestination } from "./clusters.js";
import { routeHashPolicy } from "./cluster-policy.js";
import { translateHttpRoute } from "./http-routes.js";
import { meshConfig } from "./mesh.js";

export interface HttpServerInput {
  gateway: Gateway;
  server: Server;
  virtualServices: readonly BoundVirtualService[];
}

export interface BuiltRouteConfiguration {
  routeConfiguration: EnvoyResource;
  clusterRefs: ClusterRef[];
  diagnostics: Diagnostic[];
}

interface HostEntry {
  host: string;
  serverPort: number;
  routes: EnvoyJson[];
  requireTls: boolean;
  sources: Set<string>;
}

/**
 * istiod's `IsCatchAllRoute`: a route whose path match is prefix `/` (or regex `.*`) with no
 * header, query parameter or metadata match.
 */
export function isCatchAllRoute(route: EnvoyJson): boolean {
  const match = (route.match ?? {}) as EnvoyJson;
  const regex = (match.safe_regex as EnvoyJson | undefined)?.regex;
  const path = match.prefix === "/" || match.path_separated_prefix === "/" || regex === ".*";
  return path && match.headers === undefined && match.query_parameters === undefined && match.dynamic_metadata === undefined;
}

/** istiod's `SortVHostRoutes`: catch-all routes (from several VirtualServices) go last, others keep their order. */
function catchAllLast(routes: EnvoyJson[]): EnvoyJson[] {
  return [...routes.filter((route) => !isCatchAllRoute(route)), ...routes.filter(isCatchAllRoute)];
}

export function buildRouteConfiguration(
  name: string,
  servers: readonly HttpServerInput[],
  snapshot: Snapshot,
  options: CompileOptions,
  proxy?: GatewayProxy,
): BuiltRouteConfiguration {
  const clusterRefs: ClusterRef[] = [];
  const diagnostics: Diagnostic[] = [];
  const mesh = meshConfig(options);
  const hosts = new Map<string, HostEntry>();
  const entryFor = (host: string, serverPort: number): HostEntry => {
    const key = host.toLowerCase();
    let entry = hosts.get(key);
    if (!entry) {
      entry = { host, serverPort, routes: [], requireTls: false, sources: new Set() };
      hosts.set(key, entry);
    }
    return entry;
  };

  for (const { gateway, server, virtualServices } of servers) {
    const serverPort = server.port.number;
    const httpsRedirect = server.tls?.httpsRedirect === true;
    for (const { virtualService, hosts: served } of virtualServices) {
      const vsKey = resourceKey(virtualService);
      // One VirtualService reached through two servers of a port contributes its routes once.
      const translated: ReturnType<typeof translateHttpRoute>[] = [];
      const rules = virtualService.spec.http ?? [];
      for (const [index, rule] of rules.entries()) {
        const field = `spec.http[${index}]`;
        const result = translateHttpRoute(rule, {
          virtualService,
          field,
          serverPort,
          gatewayKey: resourceKey(gateway),
          serverIsTls: server.tls !== undefined,
          proxyLabels: proxy?.labels,
          proxyNamespace: proxy?.namespace,
          options,
          resolve: (destination, destinationField) => {
            const resolution = resolveDestination(snapshot, destination, virtualService, destinationField, serverPort);
            if ("cluster" in resolution && resolution.warning) diagnostics.push(resolution.warning);
            if ("cluster" in resolution) diagnostics.push(...destinationWarnings(snapshot, resolution.cluster, virtualService, destinationField));
            return resolution;
          },
          hashPolicyFor: (ref) => routeHashPolicy(consistentHashFor(snapshot, ref)),
        });
        // istiod (route.go BuildHTTPRoutesForVirtualService) stops after the first route that
        // matches every request: later routes could never be reached.
        const catchAll = result.routes.findIndex(isCatchAllRoute);
        if (catchAll >= 0) result.routes.length = catchAll + 1;
        translated.push(result);
        if (catchAll >= 0 && index + 1 < rules.length) {
          diagnostics.push({
            severity: "warning",
            kind: "VirtualService",
            namespace: namespaceOf(virtualService),
            name: virtualService.metadata.name,
            field: `spec.http[${index + 1}]`,
            message: `unreachable: ${field} matches every request on port ${serverPort}; the ${rules.length - index - 1} rule(s) after it are not compiled (like istiod)`,
          });
          break;
        }
      }
      for (const host of served) {
        const entry = entryFor(host, serverPort);
        if (httpsRedirect) entry.requireTls = true;
        if (entry.sources.has(vsKey)) continue;
        entry.sources.add(vsKey);
        for (const result of translated) entry.routes.push(...result.routes);
      }
      for (const result of translated) {
        clusterRefs.push(...result.clusterRefs);
        diagnostics.push(...result.diagnostics);
      }
    }
    if (httpsRedirect) {
      // Istio redirects every host of the server, including hosts no VirtualService serves.
      for (const text of server.hosts ?? []) entryFor(parseServerHost(text, namespaceOf(gateway)).host, serverPort).requireTls = true;
    }
  }

  const virtualHosts = collapseVirtualHosts(
    [...hosts.values()]
      .filter((entry) => entry.routes.length > 0 || entry.requireTls)
      .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))
      .map((entry) => {
        const extra: EnvoyJson = {};
        if (entry.requireTls) extra.require_tls = "ALL";
        if (mesh.includeRequestAttemptCount) extra.include_request_attempt_count = true;
        return virtualHost(`${entry.host}:${entry.serverPort}`, [entry.host], catchAllLast(entry.routes), extra);
      }),
  );
  const firstPort = servers[0]?.server.port.number ?? 0;
  if (virtualHosts.length === 0) virtualHosts.push(blackholeVirtualHost(firstPort));

  const extra: EnvoyJson = { max_direct_response_body_size_bytes: mesh.maxDirectResponseBodySizeBytes };
  return { routeConfiguration: routeConfiguration(name, virtualHosts, extra), clusterRefs, diagnostics };
}

/**
 * istiod's `collapseDuplicateRoutes` (gateway.go, PILOT_ENABLE_ROUTE_COLLAPSE_OPTIMIZATION on by
 * default): virtual hosts whose routes, `require_tls` and attempt-count setting are identical
 * become one, named after the first host alphabetically, with the others' domains appended.
 * Input sorted by host; traffic is unchanged, the config shrinks.
 */
export function collapseVirtualHosts(virtualHosts: EnvoyJson[]): EnvoyJson[] {
  const byKey = new Map<string, EnvoyJson>();
  const result: EnvoyJson[] = [];
  for (const host of virtualHosts) {
    const key = JSON.stringify([host.routes, host.require_tls ?? null, host.include_request_attempt_count ?? null]);
    const primary = byKey.get(key);
    if (primary) {
      primary.domains = [...(primary.domains as string[]), ...(host.domains as string[])];
      continue;
    }
    const copy = { ...host };
    byKey.set(key, copy);
    result.push(copy);
  }
  return result;
}
