/**
 * What TCP and TLS (passthrough) routes share: whether a match applies to this server, and the
 * weighted clusters of a route's destinations behind one tcp_proxy filter.
 */
import type { Diagnostic } from "../output.js";
import type { EnvoyJson } from "../../envoy/resources.js";
import type { RouteDestination, VirtualService } from "../../api/index.js";
import type { ClusterRef, ServerContext } from "./types.js";
import { namespaceOf, resourceKey } from "../binding.js";
import { tcpProxy } from "../../envoy/listener.js";
import { accessLogs, meshConfig } from "../mesh.js";

/** Istio's L4 match fields the gateway reads: the server's port number and the gateway names. */
export function l4MatchApplies(match: { port?: number; gateways?: string[] }, virtualService: VirtualService, ctx: ServerContext): boolean {
  if (match.port !== undefined && match.port !== ctx.server.port.number) return false;
  if (match.gateways && match.gateways.length > 0) {
    const ns = namespaceOf(virtualService);
    const wanted = match.gateways.map((ref) => (ref.startsWith("./") ? `${ns}/${ref.slice(2)}` : ref.includes("/") ? ref : `${ns}/${ref}`));
    if (!wanted.includes(resourceKey(ctx.gateway))) return false;
  }
  return true;
}

export interface WeightedTcpProxy {
  filter?: EnvoyJson;
  clusterRefs: ClusterRef[];
  diagnostics: Diagnostic[];
}

/**
 * A tcp_proxy to the route's destinations. A single destination takes all traffic; several
 * share it by weight (unset = 0, as in Istio; all zero = equal shares, as Envoy needs a total).
 */
export function weightedTcpProxy(ctx: ServerContext, virtualService: VirtualService, destinations: readonly RouteDestination[], field: string): WeightedTcpProxy {
  const clusterRefs: ClusterRef[] = [];
  const diagnostics: Diagnostic[] = [];
  const weighted = new Map<string, number>();
  destinations.forEach((entry, index) => {
    const resolved = ctx.clusterFor(entry.destination, virtualService, `${field}[${index}].destination`);
    if ("diagnostic" in resolved) {
      diagnostics.push(resolved.diagnostic);
      return;
    }
    if (resolved.warning) diagnostics.push(resolved.warning);
    clusterRefs.push(resolved.cluster);
    const weight = destinations.length === 1 ? 100 : (entry.weight ?? 0);
    weighted.set(resolved.cluster.name, (weighted.get(resolved.cluster.name) ?? 0) + weight);
  });
  if (weighted.size === 0) return { clusterRefs, diagnostics };
  let clusters = [...weighted.entries()].map(([name, weight]) => ({ name, weight }));
  if (clusters.every((c) => c.weight === 0)) clusters = clusters.map((c) => ({ ...c, weight: 1 }));
  clusters = clusters.filter((c) => c.weight > 0);
  const statPrefix = clusters.length === 1 && clusters[0] ? clusters[0].name : `${ctx.gateway.metadata.name}.${ctx.server.port.name}`;
  return { filter: tcpProxy(statPrefix, clusters, accessLogs(meshConfig(ctx.options))), clusterRefs, diagnostics };
}
