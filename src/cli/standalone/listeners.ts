/**
 * Where a standalone gateway's listeners are: the compiled listeners bound to a local address,
 * with a port offset, and a description of each for people (which Gateway servers it serves).
 *
 * Port rule (docs/standalone.md): the compiler gives each Gateway server port the listener port
 * Istio's gateway would use — the ingress Service's targetPort (80 → 8080, 443 → 8443, 31400,
 * 15443 with Istio's default Service, or the Service in the folder), else the port itself —
 * and `--port-offset N` adds N to every listener port, so unprivileged ports stay unprivileged
 * and several gateways can run side by side.
 */
import type { EnvoyJson, EnvoyResource, EnvoyResources } from "../../envoy/resources.js";
import type { Gateway } from "../../model/istio.js";
import type { GatewayProxy } from "../../model/proxy.js";

export interface ListenerPlacement {
  address: string;
  portOffset: number;
}

export interface ListenerInfo {
  name: string;
  address: string;
  port: number;
  /** `HTTP webapp.istioinaction.io (Gateway port 80, istioinaction/coolstore-gateway)`. */
  serves: string[];
}

function socketAddress(listener: EnvoyResource): EnvoyJson | undefined {
  return (listener.address as EnvoyJson | undefined)?.socket_address as EnvoyJson | undefined;
}

/** The resources with every listener bound to `address` and its port moved by the offset. */
export function placeListeners(resources: EnvoyResources, placement: ListenerPlacement): EnvoyResources {
  const listeners = resources.listeners.map((listener): EnvoyResource => {
    const socket = socketAddress(listener);
    if (!socket || typeof socket.port_value !== "number") return listener;
    const port = socket.port_value + placement.portOffset;
    if (port < 1 || port > 65535) {
      throw new Error(`listener ${listener.name}: port ${socket.port_value} + --port-offset ${placement.portOffset} = ${port} is not a port; choose a smaller --port-offset`);
    }
    return { ...listener, address: { ...(listener.address as EnvoyJson), socket_address: { ...socket, address: placement.address, port_value: port } } };
  });
  return { ...resources, listeners };
}

function selects(gateway: Gateway, proxy: GatewayProxy): boolean {
  const selector = gateway.spec.selector ?? {};
  return Object.entries(selector).every(([key, value]) => proxy.labels[key] === value);
}

/** Each placed listener with the Gateway servers whose port maps to it. */
export function describeListeners(resources: EnvoyResources, gateways: readonly Gateway[], proxy: GatewayProxy, placement: ListenerPlacement): ListenerInfo[] {
  const servers = new Map<number, string[]>();
  for (const gateway of gateways) {
    if (!selects(gateway, proxy)) continue;
    for (const server of gateway.spec.servers ?? []) {
      const number = server.port?.number;
      if (typeof number !== "number") continue;
      const target = proxy.servicePorts.find((port) => port.port === number)?.targetPort ?? number;
      const mode = server.tls?.httpsRedirect ? " (redirect to https)" : server.tls?.mode ? ` (TLS ${server.tls.mode})` : "";
      const line = `${server.port?.protocol ?? "?"} ${(server.hosts ?? []).join(", ")}${mode} — Gateway ${gateway.metadata.namespace}/${gateway.metadata.name} port ${number}`;
      const list = servers.get(target + placement.portOffset) ?? [];
      list.push(line);
      servers.set(target + placement.portOffset, list);
    }
  }
  return resources.listeners.flatMap((listener) => {
    const socket = socketAddress(listener);
    if (!socket || typeof socket.port_value !== "number") return [];
    return [{ name: listener.name, address: String(socket.address), port: socket.port_value, serves: servers.get(socket.port_value) ?? [] }];
  });
}
