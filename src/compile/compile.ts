/**
 * compileGateway: (snapshot, proxy) → Envoy resources + diagnostics. Pure and deterministic:
 * no I/O, no clock, every output list sorted by name.
 */
import { defaultCompileOptions, sortDiagnostics } from "./output.js";
import { byName } from "../envoy/resources.js";
import type { CompileOptions, CompileResult, Diagnostic } from "./output.js";
import type { EnvoyResource } from "../envoy/resources.js";
import type { GatewayProxy } from "../model/proxy.js";
import type { Snapshot } from "../model/snapshot.js";
import type { DestinationRule, Gateway } from "../model/istio.js";
import { gatewayRefs, namespaceOf, resourceKey, selectsProxy } from "./binding.js";
import { buildListeners } from "./listeners.js";
import { buildClusters } from "./clusters.js";
import { clusterPolicy } from "./filter-chains/registry.js";
import { notCompiledDiagnostics } from "./field-support.js";
import { portLevelSettingsDiagnostics } from "./cluster-policy.js";

function uniqueSorted(resources: EnvoyResource[]): EnvoyResource[] {
  const seen = new Map<string, EnvoyResource>();
  for (const resource of resources) if (!seen.has(resource.name)) seen.set(resource.name, resource);
  return [...seen.values()].sort(byName);
}

export function compileGateway(snapshot: Snapshot, proxy: GatewayProxy, options: CompileOptions = defaultCompileOptions): CompileResult {
  const gateways = snapshot.gateways.filter((gateway) => selectsProxy(gateway, proxy));
  const built = buildListeners(snapshot, proxy, options, gateways);
  const clusters = buildClusters(snapshot, proxy, options, built.clusterRefs, clusterPolicy);
  return {
    resources: {
      listeners: uniqueSorted(built.listeners),
      routes: uniqueSorted(built.routes),
      clusters: uniqueSorted(clusters.clusters),
      endpoints: uniqueSorted(clusters.endpoints),
      secrets: uniqueSorted([...built.secrets, ...clusters.secrets]),
    },
    diagnostics: sortDiagnostics(
      dedupe([...built.diagnostics, ...clusters.diagnostics, ...unknownGatewayReferences(snapshot), ...notCompiled(snapshot, gateways, built.clusterRefs.map((ref) => ref.host))]),
    ),
  };
}

/** Fields this proxy's Gateways, their VirtualServices and the routed hosts' DestinationRules set but the compiler does not compile. */
function notCompiled(snapshot: Snapshot, gateways: readonly Gateway[], routedHosts: readonly string[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const selected = new Set(gateways.map(resourceKey));
  for (const gateway of gateways) out.push(...notCompiledDiagnostics("Gateway", gateway, namespaceOf(gateway)));
  for (const virtualService of snapshot.virtualServices) {
    if (gatewayRefs(virtualService).some((ref) => selected.has(ref))) out.push(...notCompiledDiagnostics("VirtualService", virtualService, namespaceOf(virtualService)));
  }
  const rules = new Set<DestinationRule>();
  for (const host of new Set(routedHosts)) for (const rule of snapshot.destinationRulesForHost(host)) rules.add(rule);
  for (const rule of rules) out.push(...notCompiledDiagnostics("DestinationRule", rule, namespaceOf(rule)), ...portLevelSettingsDiagnostics(rule));
  return out;
}

/** VirtualServices naming a Gateway that does not exist (for any proxy). */
function unknownGatewayReferences(snapshot: Snapshot): Diagnostic[] {
  const known = new Set(snapshot.gateways.map(resourceKey));
  const diagnostics: Diagnostic[] = [];
  for (const virtualService of snapshot.virtualServices) {
    gatewayRefs(virtualService).forEach((ref) => {
      if (known.has(ref)) return;
      diagnostics.push({
        severity: "warning",
        kind: "VirtualService",
        namespace: namespaceOf(virtualService),
        name: virtualService.metadata.name,
        field: "spec.gateways",
        message: `gateway ${ref} not found`,
      });
    });
  }
  return diagnostics;
}

function dedupe<T>(items: T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = JSON.stringify(item);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
