/**
 * Upstream clusters: naming a cluster for a VirtualService destination, and building each
 * routed cluster once with its endpoints from EndpointSlices.
 */
import type { CompileOptions, Diagnostic } from "./output.js";
import type { EnvoyResource } from "../envoy/resources.js";
import type { GatewayProxy } from "../model/proxy.js";
import type { Snapshot } from "../model/snapshot.js";
import { resolveShortHost } from "../model/snapshot.js";
import type { ConsistentHashLB, Destination, DestinationRule, Subset, TrafficPolicy, VirtualService } from "../model/istio.js";
import { effectivePolicy } from "./cluster-policy.js";
import type { Service, ServicePort } from "../model/kube.js";
import type { ClusterPolicyApplier, ClusterRef, ClusterResolution } from "./filter-chains/types.js";
import { clusterLoadAssignment, edsCluster } from "../envoy/cluster.js";
import type { LbEndpoint } from "../envoy/cluster.js";
import { namespaceOf } from "./binding.js";
import { meshConfig } from "./mesh.js";
import { reuseOrBuild, setNewest } from "./lookups.js";
import type { Memo } from "./lookups.js";

export function clusterName(port: number, subset: string | undefined, host: string): string {
  return `outbound|${port}|${subset ?? ""}|${host}`;
}

function diagnostic(virtualService: VirtualService, field: string, severity: Diagnostic["severity"], message: string): Diagnostic {
  return { severity, kind: "VirtualService", namespace: namespaceOf(virtualService), name: virtualService.metadata.name, field, message };
}

/**
 * The cluster for a destination, named like istiod (core/route `GetDestinationCluster`): the
 * destination's port, else the service's only port, else the port of the Gateway server being
 * compiled (`serverPort`) — so a destination with no Service gets `outbound|<server port>||<host>`
 * (no such cluster: Envoy answers 503, with a warning from destinationWarnings). Without a server
 * port to fall back on, it is an error.
 */
export function resolveDestination(
  snapshot: Snapshot,
  destination: Destination,
  virtualService: VirtualService,
  field: string,
  serverPort?: number,
): ClusterResolution {
  const host = resolveShortHost(destination.host, namespaceOf(virtualService));
  const service = snapshot.serviceForHost(host);
  const ports = service?.spec?.ports ?? [];
  // Port 0 is proto3's unset value: treated as no port (istiod's webhook refuses it; a manifest
  // that got past it must not name a cluster `outbound|0|…`).
  let port = destination.port?.number || undefined;
  const portZero = destination.port?.number === 0;
  if (port === undefined) {
    const only = ports.length === 1 ? ports[0] : undefined;
    if (only) port = only.port;
    else if (serverPort !== undefined) port = serverPort;
    else {
      const why = service ? `service ${host} has ${ports.length} ports` : `service ${host} not found`;
      return { diagnostic: diagnostic(virtualService, `${field}.port`, "error", `destination needs a port: ${why}`) };
    }
  }
  const cluster: ClusterRef = { name: clusterName(port, destination.subset || undefined, host), host, port, subset: destination.subset || undefined };
  if (portZero) {
    return { cluster, warning: diagnostic(virtualService, `${field}.port.number`, "warning", `port 0 is not a port; treated as unset (port ${port}): remove it or name the service port`) };
  }
  return { cluster };
}

function findSubset(rules: readonly DestinationRule[], name: string): { rule: DestinationRule; subset: Subset; index: number } | undefined {
  for (const rule of rules) {
    const index = (rule.spec.subsets ?? []).findIndex((subset) => subset.name === name);
    const subset = rule.spec.subsets?.[index];
    if (subset) return { rule, subset, index };
  }
  return undefined;
}

/**
 * The consistent-hash settings of the DestinationRule policy that applies to a cluster, in
 * Istio's merge order (see effectivePolicy); routes to that cluster must carry the hash key.
 */
export function consistentHashFor(snapshot: Snapshot, ref: ClusterRef): ConsistentHashLB | undefined {
  const rules = snapshot.destinationRulesForHost(ref.host);
  const found = ref.subset ? findSubset(rules, ref.subset) : undefined;
  return effectivePolicy(found?.rule ?? rules[0], found ? ref.subset : undefined, ref.port).loadBalancer?.consistentHash;
}

function matchesLabels(labels: Readonly<Record<string, string>> | undefined, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([key, value]) => labels?.[key] === value);
}

/** Ready, non-terminating endpoints of the service port, mapped by port name like kube-proxy. */
function endpointsFor(snapshot: Snapshot, service: Service, servicePort: ServicePort, subsetLabels: Record<string, string> | undefined): LbEndpoint[] {
  const ns = namespaceOf(service);
  const seen = new Set<string>();
  const result: LbEndpoint[] = [];
  for (const slice of snapshot.endpointSlices(ns, service.metadata.name)) {
    if (slice.addressType && slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const slicePort = (slice.ports ?? []).find((port) => (port.name ?? "") === (servicePort.name ?? ""));
    if (slicePort?.port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      // Kubernetes: a nil `ready` means ready; terminating endpoints never take new traffic here.
      if (endpoint.conditions?.ready === false || endpoint.conditions?.terminating === true) continue;
      for (const address of endpoint.addresses) {
        if (subsetLabels && !matchesLabels(snapshot.podLabels(ns, address), subsetLabels)) continue;
        const key = `${address}:${slicePort.port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        result.push({ address, port: slicePort.port });
      }
    }
  }
  return result.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
}

/**
 * Whether a Service port speaks HTTP/2 by Istio's protocol selection (pkg/config/kube
 * `ConvertProtocol`): `appProtocol`, else the port name's prefix before `-`; http2, grpc and
 * grpc-web (and appProtocol `kubernetes.io/h2c`) are HTTP/2. istiod then sends HTTP/2 upstream.
 */
export function isHttp2ServicePort(port: ServicePort | undefined): boolean {
  if (!port) return false;
  const name = (port.appProtocol ?? port.name ?? "").toLowerCase();
  if (port.appProtocol === "kubernetes.io/h2c") return true;
  if (name.startsWith("grpc-web")) return true;
  const prefix = name.split("-")[0] ?? "";
  return prefix === "http2" || prefix === "grpc";
}

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

export interface BuiltClusters {
  clusters: EnvoyResource[];
  endpoints: EnvoyResource[];
  secrets: EnvoyResource[];
  diagnostics: Diagnostic[];
}

/** What one routed cluster compiles to (deeply frozen, memoised: see buildClusters). */
interface BuiltCluster {
  cluster: EnvoyResource;
  endpoints: EnvoyResource;
  secrets: readonly EnvoyResource[];
  diagnostics: readonly Diagnostic[];
}

interface MemoisedCluster extends Memo<BuiltCluster> {
  ref: ClusterRef;
  applyPolicy: ClusterPolicyApplier | undefined;
}

/**
 * Built clusters by the Service they route to, then by cluster and context (proxy, options). An
 * entry is reused while every snapshot look-up its build made still returns the same objects
 * (lookups.ts, docs/adr/0019); the Service is the key (an unchanged one is the same object).
 */
const builtClusters = new WeakMap<Service, Map<string, Map<string, MemoisedCluster>>>();
/** Cluster names kept per Service (ports × subsets) and contexts (proxies, options) per name; the oldest dropped beyond. */
const clustersPerService = 64;
const contextsPerCluster = 8;

function sameRef(a: ClusterRef, b: ClusterRef): boolean {
  return a.name === b.name && a.host === b.host && a.port === b.port && a.subset === b.subset;
}

/** One EDS cluster and one ClusterLoadAssignment per distinct routed cluster. */
export function buildClusters(
  snapshot: Snapshot,
  proxy: GatewayProxy,
  options: CompileOptions,
  refs: readonly ClusterRef[],
  applyPolicy: ClusterPolicyApplier | undefined,
): BuiltClusters {
  const out: BuiltClusters = { clusters: [], endpoints: [], secrets: [], diagnostics: [] };
  const contextKey = JSON.stringify([proxy, options]);
  const unique = new Map<string, ClusterRef>();
  for (const ref of refs) if (!unique.has(ref.name)) unique.set(ref.name, ref);
  for (const ref of [...unique.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const service = snapshot.serviceForHost(ref.host);
    if (!service) continue; // reported where the destination was written
    // By cluster name, then context: no key string built per cluster per compile.
    const memo = builtClusters.get(service)?.get(ref.name)?.get(contextKey);
    const built = reuseOrBuild(
      snapshot,
      memo && sameRef(memo.ref, ref) && memo.applyPolicy === applyPolicy ? memo : undefined,
      (view) => buildCluster(view, proxy, options, ref, service, applyPolicy),
      (fresh) => {
        let byName = builtClusters.get(service);
        if (!byName) builtClusters.set(service, (byName = new Map()));
        const byContext = byName.get(ref.name) ?? new Map<string, MemoisedCluster>();
        setNewest(byContext, contextKey, { ...fresh, ref, applyPolicy }, contextsPerCluster);
        setNewest(byName, ref.name, byContext, clustersPerService);
      },
    );
    out.clusters.push(built.cluster);
    out.endpoints.push(built.endpoints);
    out.secrets.push(...built.secrets);
    out.diagnostics.push(...built.diagnostics);
  }
  return out;
}

function buildCluster(
  snapshot: Snapshot,
  proxy: GatewayProxy,
  options: CompileOptions,
  ref: ClusterRef,
  service: Service,
  applyPolicy: ClusterPolicyApplier | undefined,
): BuiltCluster {
  const mesh = meshConfig(options);
  const secrets: EnvoyResource[] = [];
  const diagnostics: Diagnostic[] = [];
  const servicePort = (service.spec?.ports ?? []).find((port) => port.port === ref.port);
  const rules = snapshot.destinationRulesForHost(ref.host);
  const rule = rules[0];
  let subsetLabels: Record<string, string> | undefined;
  let policy: TrafficPolicy | undefined = rule?.spec.trafficPolicy;
  let policyField = "spec.trafficPolicy";
  if (ref.subset) {
    const found = findSubset(rules, ref.subset);
    if (!found) {
      // Istio keeps routing to the name; with no such subset the cluster would have no
      // endpoints, so say why.
      diagnostics.push({
        severity: "warning",
        kind: "DestinationRule",
        namespace: rule ? namespaceOf(rule) : namespaceOf(service),
        name: rule?.metadata.name ?? ref.host,
        field: "spec.subsets",
        message: `subset ${ref.subset} of ${ref.host} is not defined by any DestinationRule; cluster ${ref.name} has no endpoints`,
      });
      subsetLabels = { "pilotfish.dev/undefined-subset": ref.subset };
    } else {
      subsetLabels = found.subset.labels ?? {};
      policy = effectivePolicy(found.rule, ref.subset, ref.port);
      policyField = found.subset.trafficPolicy ? `spec.subsets[${found.index}].trafficPolicy` : "spec.trafficPolicy";
    }
  }
  let cluster: EnvoyResource = edsCluster(ref.name, {
    connectTimeoutMs: mesh.connectTimeoutMs,
    lbPolicy: mesh.defaultLbPolicy,
    healthyPanicThresholdPercent: mesh.healthyPanicThresholdPercent,
  });
  if (isHttp2ServicePort(servicePort)) {
    cluster.typed_extension_protocol_options = {
      [httpProtocolOptionsKey]: {
        "@type": `type.googleapis.com/${httpProtocolOptionsKey}`,
        explicit_http_config: { http2_protocol_options: {} },
      },
    };
  }
  if (applyPolicy && policy) {
    const applied = applyPolicy({
      cluster,
      ref,
      policy,
      snapshot,
      proxy,
      destinationRule: rule ? { namespace: namespaceOf(rule), name: rule.metadata.name, field: policyField } : undefined,
    });
    cluster = { ...applied.cluster, "@type": cluster["@type"], name: cluster.name };
    secrets.push(...(applied.secrets ?? []));
    diagnostics.push(...applied.diagnostics);
  }
  const endpoints = clusterLoadAssignment(ref.name, servicePort ? endpointsFor(snapshot, service, servicePort, subsetLabels) : []);
  return { cluster, endpoints, secrets, diagnostics };
}

/** Does the destination's service exist with that port, and its subset? (warnings for routes that will 503) */
export function destinationWarnings(snapshot: Snapshot, ref: ClusterRef, virtualService: VirtualService, field: string): Diagnostic[] {
  const service = snapshot.serviceForHost(ref.host);
  if (!service) {
    return [diagnostic(virtualService, `${field}.host`, "warning", `service ${ref.host} not found; requests routed to it get 503`)];
  }
  if (!(service.spec?.ports ?? []).some((port) => port.port === ref.port)) {
    return [diagnostic(virtualService, `${field}.port`, "warning", `service ${ref.host} has no port ${ref.port}; requests routed to it get 503`)];
  }
  if (ref.subset && !findSubset(snapshot.destinationRulesForHost(ref.host), ref.subset)) {
    return [
      diagnostic(virtualService, `${field}.subset`, "warning", `subset ${ref.subset} of service ${ref.host} not found: no DestinationRule for the host defines it; requests routed to it get 503`),
    ];
  }
  return [];
}
