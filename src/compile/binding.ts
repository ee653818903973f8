/**
 * Which Gateways a proxy runs, which port each server listens on, and which VirtualServices
 * (and which of their hosts) each server serves.
 */
import type { GatewayProxy } from "../model/proxy.js";
import type { Snapshot } from "../model/snapshot.js";
import { resolveShortHost } from "../model/snapshot.js";
import type { Gateway, Server, VirtualService } from "../model/istio.js";
import type { BoundVirtualService } from "./filter-chains/types.js";
import { intersect, parseServerHost } from "./hosts.js";

export function namespaceOf(resource: { metadata: { namespace?: string } }): string {
  return resource.metadata.namespace ?? "default";
}

export function resourceKey(resource: { metadata: { name: string; namespace?: string } }): string {
  return `${namespaceOf(resource)}/${resource.metadata.name}`;
}

/** A Gateway applies to a proxy when every selector label is on the proxy (empty selects all). */
export function selectsProxy(gateway: Gateway, proxy: GatewayProxy): boolean {
  const selector = gateway.spec.selector ?? {};
  return Object.entries(selector).every(([label, value]) => proxy.labels[label] === value);
}

/** The port Envoy listens on for a Gateway server port: the matching Service port's targetPort. */
export function listenerPortFor(serverPort: number, proxy: GatewayProxy): number {
  const servicePort = proxy.servicePorts.find((port) => port.port === serverPort);
  if (!servicePort) return serverPort;
  return servicePort.targetPort ?? servicePort.port;
}

/** gatewayRefs by VirtualService object: asked per server and per compile (inputs are never edited). */
const gatewayRefsOf = new WeakMap<VirtualService, readonly string[]>();

/** The Gateways a VirtualService names, as `namespace/name` keys (`mesh` dropped). */
export function gatewayRefs(virtualService: VirtualService): readonly string[] {
  let refs = gatewayRefsOf.get(virtualService);
  if (refs === undefined) {
    const ns = namespaceOf(virtualService);
    refs = Object.freeze(
      (virtualService.spec.gateways ?? [])
        .filter((ref) => ref !== "mesh")
        .map((ref) => {
          if (ref.startsWith("./")) return `${ns}/${ref.slice(2)}`;
          return ref.includes("/") ? ref : `${ns}/${ref}`;
        }),
    );
    gatewayRefsOf.set(virtualService, refs);
  }
  return refs;
}

/** exportTo as Istio reads it for a gateway proxy: absent or `*` is public, `.` is own namespace. */
export function visibleTo(virtualService: VirtualService, proxyNamespace: string): boolean {
  const exportTo = virtualService.spec.exportTo;
  if (!exportTo || exportTo.length === 0) return true;
  const ns = namespaceOf(virtualService);
  return exportTo.some((target) => target === "*" || target === proxyNamespace || (target === "." && ns === proxyNamespace));
}

/** VirtualService hosts as routed: short names are services in the VirtualService's namespace. */
export function virtualServiceHosts(virtualService: VirtualService): string[] {
  const ns = namespaceOf(virtualService);
  return (virtualService.spec.hosts ?? []).map((host) => resolveShortHost(host, ns));
}

/** The VirtualServices bound to one server of a Gateway, with the hosts each serves there. */
export function bindVirtualServices(
  snapshot: Snapshot,
  proxy: GatewayProxy,
  gateway: Gateway,
  server: Server,
): BoundVirtualService[] {
  const gatewayKey = resourceKey(gateway);
  const serverHosts = (server.hosts ?? []).map((text) => parseServerHost(text, namespaceOf(gateway)));
  const bound: BoundVirtualService[] = [];
  for (const virtualService of snapshot.virtualServices) {
    if (!gatewayRefs(virtualService).includes(gatewayKey)) continue;
    if (!visibleTo(virtualService, proxy.namespace)) continue;
    const ns = namespaceOf(virtualService);
    const hosts: string[] = [];
    for (const vsHost of virtualServiceHosts(virtualService)) {
      for (const serverHost of serverHosts) {
        if (serverHost.namespace !== "*" && serverHost.namespace !== ns) continue;
        const served = intersect(vsHost, serverHost.host);
        if (served !== undefined && !hosts.includes(served)) hosts.push(served);
      }
    }
    if (hosts.length > 0) bound.push({ virtualService, hosts });
  }
  return bound;
}
