/**
 * Virtual hosts for one route configuration: every HTTP server sharing it contributes the hosts
 * its bound VirtualServices serve, with their routes in order. Hosts served by several
 * VirtualServices get one virtual host with the routes of each, in precedence order (Envoy
 * rejects duplicate domains).
 */
import type { CompileOptions, Diagnostic } from "./output.js";
import type { EnvoyJson, EnvoyResource } from "../envoy/resources.js";
import type { Snapshot } from "../model/snapshot.js";
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

export function buildRouteConfiguration(
  name: string,
  servers: readonly HttpServerInput[],
  snapshot: Snapshot,
  options: CompileOptions,
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
      const translated = (virtualService.spec.http ?? []).map((rule, index) => {
        const field = `spec.http[${index}]`;
        return translateHttpRoute(rule, {
          virtualService,
          field,
          serverPort,
          gatewayKey: resourceKey(gateway),
          options,
          resolve: (destination, destinationField) => {
            const resolution = resolveDestination(snapshot, destination, virtualService, destinationField);
            if ("cluster" in resolution) diagnostics.push(...destinationWarnings(snapshot, resolution.cluster, virtualService, destinationField));
            return resolution;
          },
          hashPolicyFor: (ref) => routeHashPolicy(consistentHashFor(snapshot, ref)),
        });
      });
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

  const virtualHosts = [...hosts.values()]
    .filter((entry) => entry.routes.length > 0 || entry.requireTls)
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))
    .map((entry) => {
      const extra: EnvoyJson = {};
      if (entry.requireTls) extra.require_tls = "ALL";
      if (mesh.includeRequestAttemptCount) extra.include_request_attempt_count = true;
      return virtualHost(`${entry.host}:${entry.serverPort}`, [entry.host], entry.routes, extra);
    });
  const firstPort = servers[0]?.server.port.number ?? 0;
  if (virtualHosts.length === 0) virtualHosts.push(blackholeVirtualHost(firstPort));

  const extra: EnvoyJson = { max_direct_response_body_size_bytes: mesh.maxDirectResponseBodySizeBytes };
  return { routeConfiguration: routeConfiguration(name, virtualHosts, extra), clusterRefs, diagnostics };
}
