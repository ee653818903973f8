/**
 * What the tracer cannot read from Envoy resources but a person needs to hear: which Gateway
 * serves which hosts on which port (so a 404 can name the Gateway), and which Service port
 * leads to which listener.
 */
import type { GatewayProxy } from "../model/proxy.js";
import type { Snapshot } from "../model/snapshot.js";
import type { Diagnostic } from "../compile/output.js";
import { resourceKey, namespaceOf, selectsProxy } from "../compile/binding.js";
import { parseServerHost } from "../compile/hosts.js";
import type { ExplainContext, GatewayServerHint } from "./trace.js";

/** Each Gateway server of the proxy, with the compiler's diagnostics about it (a skipped server says why). */
export function gatewayServerHints(snapshot: Snapshot, proxy: GatewayProxy, diagnostics: readonly Diagnostic[] = []): GatewayServerHint[] {
  const hints: GatewayServerHint[] = [];
  for (const gateway of snapshot.gateways) {
    if (!selectsProxy(gateway, proxy)) continue;
    for (const [index, server] of (gateway.spec.servers ?? []).entries()) {
      const problems = diagnostics
        .filter((d) => d.kind === "Gateway" && d.namespace === namespaceOf(gateway) && d.name === gateway.metadata.name && (d.field === `spec.servers[${index}]` || d.field.startsWith(`spec.servers[${index}].`)))
        .map((d) => `${d.field}: ${d.message}`);
      hints.push({
        ...(problems.length > 0 ? { problems } : {}),
        gateway: resourceKey(gateway),
        port: server.port.number,
        protocol: (server.port.protocol ?? "").toUpperCase(),
        hosts: (server.hosts ?? []).map((host) => parseServerHost(host, namespaceOf(gateway)).host),
      });
    }
  }
  return hints;
}

export function explainContext(snapshot: Snapshot, proxy: GatewayProxy, diagnostics: readonly Diagnostic[] = []): ExplainContext {
  return {
    servicePorts: proxy.servicePorts.map((port) => ({ port: port.port, ...(port.targetPort !== undefined ? { targetPort: port.targetPort } : {}) })),
    gatewayServers: gatewayServerHints(snapshot, proxy, diagnostics),
  };
}
