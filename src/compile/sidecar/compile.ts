/**
 * compileSidecar: (snapshot, sidecar proxy, services) → Envoy resources for an injected
 * istio-proxy, with Istio's names (docs/injection.md, "Sidecar config"). Pure and deterministic.
 *
 * Outbound (what the app calls, captured to 15001):
 * - `virtualOutbound` 0.0.0.0:15001, `use_original_dst`: Envoy hands each connection to the
 *   listener bound (bind_to_port false) to its original destination, else TCP-proxies it to
 *   `PassthroughCluster` (Istio's outboundTrafficPolicy ALLOW_ANY);
 * - per HTTP service port P: listener `0.0.0.0_P` with an HCM on RDS route config `P`, whose
 *   virtual hosts are the services on P (`<fqdn>:P`, domains = the names the app may use and the
 *   ClusterIP) routed by VirtualServices bound to `mesh` (no `gateways`, or `mesh` listed), else
 *   to `outbound|P||<fqdn>` with Istio's default route policy; `allow_any` → PassthroughCluster;
 * - per TCP service port: listener `<clusterIP>_P` TCP-proxying to `outbound|P||<fqdn>`;
 * - clusters `outbound|P|<subset>|<fqdn>` with their DestinationRule policy and EDS endpoints
 *   (the gateway's cluster builder), `PassthroughCluster`, `BlackHoleCluster`.
 *
 * Inbound (what reaches the pod, captured to 15006):
 * - `virtualInbound` 0.0.0.0:15006: one filter chain per workload port (HTTP: HCM with an inline
 *   route config to `inbound|<port>||`; TCP: TCP proxy), the rest to `InboundPassthroughCluster`;
 * - clusters `inbound|<port>||`: original destination, bound to 127.0.0.6 (the capture rules let
 *   that source through to the app).
 *
 * Scope: a sidecar sees the services its namespace can see (`serviceVisibleTo`: the Service's
 * `networking.istio.io/exportTo` annotation, Istio's) and the VirtualServices exported to it.
 *
 * TCP service ports follow the first mesh-bound VirtualService's matching `tcp` route (weights,
 * subsets), else go straight to the service's cluster.
 *
 * Not yet: TLS VirtualService routes for mesh traffic, the Sidecar resource, protocol
 * sniffing of unnamed ports (they are TCP here), headless services, mTLS between sidecars.
 */
import { byName } from "../../envoy/resources.js";
import type { EnvoyJson, EnvoyResource } from "../../envoy/resources.js";
import { httpConnectionManager, tcpProxy } from "../../envoy/listener.js";
import { routeConfiguration, virtualHost } from "../../envoy/route.js";
import type { GatewayProxy } from "../../model/proxy.js";
import type { Service, ServicePort } from "../../model/kube.js";
import type { VirtualService } from "../../model/istio.js";
import type { Snapshot } from "../../model/snapshot.js";
import { clusterDomainSuffix } from "../../model/snapshot.js";
import { namespaceOf, resourceKey, visibleTo, virtualServiceHosts } from "../binding.js";
import { consistentHashFor, buildClusters, clusterName, destinationWarnings, resolveDestination } from "../clusters.js";
import { routeHashPolicy } from "../cluster-policy.js";
import { clusterPolicy } from "../filter-chains/registry.js";
import type { ClusterRef } from "../filter-chains/types.js";
import { covers } from "../hosts.js";
import { retryPolicy, translateHttpRoute } from "../http-routes.js";
import { hcmSettings, meshConfig } from "../mesh.js";
import { defaultCompileOptions, sortDiagnostics } from "../output.js";
import type { CompileOptions, CompileResult, Diagnostic } from "../output.js";

export interface SidecarPort {
  port: number;
  name?: string;
  protocol?: string;
  appProtocol?: string;
}

/** The workload a sidecar config is compiled for: its pod's namespace, labels and ports. */
export interface SidecarProxy {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  /** The ports the app listens on (container ports, or the targetPorts of its Services). */
  ports: SidecarPort[];
}

export const passthroughCluster = "PassthroughCluster";
export const blackHoleCluster = "BlackHoleCluster";
export const inboundPassthroughCluster = "InboundPassthroughCluster";
const outboundPort = 15001;
const inboundPort = 15006;
const inboundPassthroughSource = "127.0.0.6";

/** Istio's protocol selection: appProtocol, else the port name's prefix before `-`. */
export function isHttpPort(port: SidecarPort | ServicePort): boolean {
  if (port.protocol && port.protocol.toUpperCase() !== "TCP") return false;
  if (port.appProtocol === "kubernetes.io/h2c" || port.appProtocol === "kubernetes.io/ws") return true;
  const name = (port.appProtocol ?? port.name ?? "").toLowerCase();
  const prefix = name.split("-")[0] ?? "";
  return ["http", "http2", "grpc", "grpc-web", "h2c"].includes(prefix) || name.startsWith("grpc-web");
}

const original = (type: string): EnvoyJson => ({ "@type": `type.googleapis.com/${type}` });
const originalDstFilter: EnvoyJson = { name: "envoy.filters.listener.original_dst", typed_config: original("envoy.extensions.filters.listener.original_dst.v3.OriginalDst") };

function fqdn(service: Service): string {
  return `${service.metadata.name}.${namespaceOf(service)}${clusterDomainSuffix}`;
}

/** The names an app may use for a service (Istio's virtual host domains): short forms only from its own namespace. */
function domains(service: Service, port: number, proxyNamespace: string): string[] {
  const name = service.metadata.name;
  const ns = namespaceOf(service);
  const names = [fqdn(service), `${name}.${ns}.svc`, `${name}.${ns}`];
  if (ns === proxyNamespace) names.push(name);
  const ip = service.spec?.clusterIP;
  if (ip && ip !== "None") names.push(ip);
  return names.flatMap((host) => [host, `${host}:${port}`]);
}

const exportToAnnotation = "networking.istio.io/exportTo";

/**
 * Istio's service visibility: the `networking.istio.io/exportTo` annotation (comma-separated;
 * `*` everyone, `.` the service's own namespace, `~` nobody, else namespace names); absent is `*`.
 */
export function serviceVisibleTo(service: Service, proxyNamespace: string): boolean {
  const value = service.metadata.annotations?.[exportToAnnotation];
  if (value === undefined || value.trim() === "") return true;
  const ns = namespaceOf(service);
  return value
    .split(",")
    .map((target) => target.trim())
    .some((target) => target === "*" || target === proxyNamespace || (target === "." && ns === proxyNamespace));
}

function meshBound(virtualService: VirtualService): boolean {
  const gateways = virtualService.spec.gateways ?? [];
  return gateways.length === 0 || gateways.includes("mesh");
}

interface Outbound {
  listeners: EnvoyResource[];
  routes: EnvoyResource[];
  clusterRefs: ClusterRef[];
  diagnostics: Diagnostic[];
}

function outbound(snapshot: Snapshot, proxy: SidecarProxy, services: readonly Service[], options: CompileOptions): Outbound {
  const out: Outbound = { listeners: [], routes: [], clusterRefs: [], diagnostics: [] };
  const mesh = meshConfig(options);
  const virtualServices = snapshot.virtualServices.filter((vs) => meshBound(vs) && visibleTo(vs, proxy.namespace));
  const httpPorts = new Map<number, Service[]>();
  const visible = services.filter((service) => serviceVisibleTo(service, proxy.namespace));
  for (const service of [...visible].sort((a, b) => (fqdn(a) < fqdn(b) ? -1 : fqdn(a) > fqdn(b) ? 1 : 0))) {
    const ip = service.spec?.clusterIP;
    if (!ip || ip === "None") continue; // headless: not built yet
    for (const port of service.spec?.ports ?? []) {
      const ref: ClusterRef = { name: clusterName(port.port, undefined, fqdn(service)), host: fqdn(service), port: port.port };
      out.clusterRefs.push(ref);
      if (isHttpPort(port)) {
        httpPorts.set(port.port, [...(httpPorts.get(port.port) ?? []), service]);
        continue;
      }
      const routed = meshTcpRoute(snapshot, virtualServices, fqdn(service), port.port, options, out);
      out.listeners.push({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        name: `${ip}_${port.port}`,
        address: { socket_address: { address: ip, port_value: port.port } },
        bind_to_port: false,
        traffic_direction: "OUTBOUND",
        filter_chains: [{ filters: [routed ?? tcpProxy(ref.name, [{ name: ref.name, weight: 1 }], hcmSettings(mesh).accessLog)] }],
      });
    }
  }

  for (const [port, portServices] of [...httpPorts.entries()].sort((a, b) => a[0] - b[0])) {
    const hcm = httpConnectionManager(String(port), `outbound_0.0.0.0_${port}`, hcmSettings(mesh));
    // A sidecar is not the edge: keep the caller's x-forwarded-for (Istio: use_remote_address false).
    Object.assign(hcm.typed_config as EnvoyJson, { use_remote_address: false });
    out.listeners.push({
      "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
      name: `0.0.0.0_${port}`,
      address: { socket_address: { address: "0.0.0.0", port_value: port } },
      bind_to_port: false,
      traffic_direction: "OUTBOUND",
      filter_chains: [{ filters: [hcm] }],
    });
    const virtualHosts: EnvoyJson[] = portServices.map((service) => {
      const host = fqdn(service);
      const bound = virtualServices.find((vs) => virtualServiceHosts(vs).some((pattern) => covers(pattern, host)) && (vs.spec.http ?? []).length > 0);
      const routes = bound ? meshRoutes(snapshot, bound, port, options, out) : [defaultRoute(clusterName(port, undefined, host), options)];
      return virtualHost(`${host}:${port}`, domains(service, port, proxy.namespace), routes, mesh.includeRequestAttemptCount ? { include_request_attempt_count: true } : {});
    });
    virtualHosts.push(virtualHost("allow_any", ["*"], [{ name: "allow_any", match: { prefix: "/" }, route: { cluster: passthroughCluster, timeout: "0s" } }]));
    out.routes.push(routeConfiguration(String(port), virtualHosts, { validate_clusters: false, max_direct_response_body_size_bytes: mesh.maxDirectResponseBodySizeBytes }));
  }

  out.listeners.push({
    "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
    name: "virtualOutbound",
    address: { socket_address: { address: "0.0.0.0", port_value: outboundPort } },
    use_original_dst: true,
    traffic_direction: "OUTBOUND",
    filter_chains: [{ name: "virtualOutbound-catchall-tcp", filters: [tcpProxy(passthroughCluster, [{ name: passthroughCluster, weight: 1 }], hcmSettings(mesh).accessLog)] }],
  });
  return out;
}

/**
 * The first `tcp` route of the first mesh-bound VirtualService for `host` whose match applies to
 * this port (`port` unset or equal; `gateways` unset or listing `mesh`): a tcp_proxy to its
 * destinations by weight (unset weight 0, as in Istio; all zero = equal). Source matches
 * (`sourceLabels`, `sourceNamespace`, subnets) are not applied yet: a route using them is skipped
 * with a warning rather than applied to every source.
 */
function meshTcpRoute(snapshot: Snapshot, virtualServices: readonly VirtualService[], host: string, port: number, options: CompileOptions, out: Outbound): EnvoyJson | undefined {
  const bound = virtualServices.find((vs) => virtualServiceHosts(vs).some((pattern) => covers(pattern, host)) && (vs.spec.tcp ?? []).length > 0);
  if (!bound) return undefined;
  const rules = bound.spec.tcp ?? [];
  for (const [index, rule] of rules.entries()) {
    const field = `spec.tcp[${index}]`;
    const matches = rule.match ?? [];
    const applies = (match: (typeof matches)[number]): boolean =>
      (match.port === undefined || match.port === port) && (match.gateways === undefined || match.gateways.length === 0 || match.gateways.includes("mesh"));
    if (matches.length > 0 && !matches.some(applies)) continue;
    if (matches.some((match) => applies(match) && (match.sourceLabels || match.sourceNamespace || match.sourceSubnet || (match.destinationSubnets ?? []).length > 0))) {
      out.diagnostics.push({ severity: "warning", kind: "VirtualService", namespace: namespaceOf(bound), name: bound.metadata.name, field: `${field}.match`, message: "source and subnet matches are not applied to sidecar traffic yet: this route is skipped" });
      continue;
    }
    const weighted = new Map<string, number>();
    const destinations = rule.route ?? [];
    destinations.forEach((entry, destinationIndex) => {
      const resolution = resolveDestination(snapshot, entry.destination, bound, `${field}.route[${destinationIndex}].destination`, port);
      if (!("cluster" in resolution)) {
        out.diagnostics.push(resolution.diagnostic);
        return;
      }
      if (resolution.warning) out.diagnostics.push(resolution.warning);
      out.clusterRefs.push(resolution.cluster);
      const weight = destinations.length === 1 ? 100 : (entry.weight ?? 0);
      weighted.set(resolution.cluster.name, (weighted.get(resolution.cluster.name) ?? 0) + weight);
    });
    let clusters = [...weighted.entries()].map(([name, weight]) => ({ name, weight }));
    if (clusters.length === 0) return undefined;
    if (clusters.every((cluster) => cluster.weight === 0)) clusters = clusters.map((cluster) => ({ ...cluster, weight: 1 }));
    clusters = clusters.filter((cluster) => cluster.weight > 0);
    const statPrefix = clusters.length === 1 && clusters[0] ? clusters[0].name : `outbound|${port}||${host}`;
    return tcpProxy(statPrefix, clusters, hcmSettings(meshConfig(options)).accessLog);
  }
  return undefined;
}

function defaultRoute(cluster: string, options: CompileOptions): EnvoyJson {
  const policy = retryPolicy(undefined, options);
  return {
    name: "default",
    match: { prefix: "/" },
    // max_grpc_timeout as the gateway's routes have it (not max_stream_duration: see http-routes.ts).
    route: { cluster, timeout: "0s", ...(meshConfig(options).honorGrpcTimeoutHeader ? { max_grpc_timeout: "0s" } : {}), ...(policy ? { retry_policy: policy } : {}) },
  };
}

function meshRoutes(snapshot: Snapshot, virtualService: VirtualService, port: number, options: CompileOptions, out: Outbound): EnvoyJson[] {
  return (virtualService.spec.http ?? []).flatMap((rule, index) => {
    const field = `spec.http[${index}]`;
    const translated = translateHttpRoute(rule, {
      virtualService,
      field,
      serverPort: port,
      gatewayKey: "mesh",
      options,
      resolve: (destination, destinationField) => {
        const resolution = resolveDestination(snapshot, destination, virtualService, destinationField);
        if ("cluster" in resolution && resolution.warning) out.diagnostics.push(resolution.warning);
        if ("cluster" in resolution) out.diagnostics.push(...destinationWarnings(snapshot, resolution.cluster, virtualService, destinationField));
        return resolution;
      },
      hashPolicyFor: (ref) => routeHashPolicy(consistentHashFor(snapshot, ref)),
    });
    out.clusterRefs.push(...translated.clusterRefs);
    out.diagnostics.push(...translated.diagnostics);
    return translated.routes;
  });
}

function inboundClusterResource(name: string): EnvoyResource {
  return {
    "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    name,
    type: "ORIGINAL_DST",
    lb_policy: "CLUSTER_PROVIDED",
    connect_timeout: "10s",
    upstream_bind_config: { source_address: { address: inboundPassthroughSource, port_value: 0 } },
  };
}

function inbound(proxy: SidecarProxy, options: CompileOptions): { listener: EnvoyResource; clusters: EnvoyResource[] } {
  const mesh = meshConfig(options);
  const ports = [...new Map(proxy.ports.map((port) => [port.port, port])).values()].sort((a, b) => a.port - b.port);
  const chains: EnvoyJson[] = ports.map((port) => {
    const cluster = `inbound|${port.port}||`;
    if (!isHttpPort(port)) {
      return { name: cluster, filter_chain_match: { destination_port: port.port }, filters: [tcpProxy(cluster, [{ name: cluster, weight: 1 }], hcmSettings(mesh).accessLog)] };
    }
    const hcm = httpConnectionManager(cluster, `inbound_0.0.0.0_${port.port}`, hcmSettings(mesh));
    const config = hcm.typed_config as EnvoyJson;
    delete config.rds;
    Object.assign(config, {
      use_remote_address: false,
      forward_client_cert_details: "APPEND_FORWARD",
      route_config: {
        name: cluster,
        validate_clusters: false,
        virtual_hosts: [{ name: `inbound|http|${port.port}`, domains: ["*"], routes: [{ name: "default", match: { prefix: "/" }, route: { cluster, timeout: "0s", ...(mesh.honorGrpcTimeoutHeader ? { max_grpc_timeout: "0s" } : {}) } }] }],
      },
    });
    return { name: cluster, filter_chain_match: { destination_port: port.port }, filters: [hcm] };
  });
  chains.push({ name: "virtualInbound-catchall-tcp", filters: [tcpProxy(inboundPassthroughCluster, [{ name: inboundPassthroughCluster, weight: 1 }], hcmSettings(mesh).accessLog)] });
  return {
    listener: {
      "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
      name: "virtualInbound",
      address: { socket_address: { address: "0.0.0.0", port_value: inboundPort } },
      traffic_direction: "INBOUND",
      listener_filters: [originalDstFilter],
      filter_chains: chains,
    },
    clusters: ports.map((port) => inboundClusterResource(`inbound|${port.port}||`)),
  };
}

function uniqueSorted(resources: EnvoyResource[]): EnvoyResource[] {
  const seen = new Map<string, EnvoyResource>();
  for (const resource of resources) if (!seen.has(resource.name)) seen.set(resource.name, resource);
  return [...seen.values()].sort(byName);
}

export function compileSidecar(snapshot: Snapshot, proxy: SidecarProxy, services: readonly Service[], options: CompileOptions = defaultCompileOptions): CompileResult {
  const out = outbound(snapshot, proxy, services, options);
  const built = inbound(proxy, options);
  // The gateway's cluster builder reads only the proxy's namespace (credential look-ups).
  const asProxy: GatewayProxy = { name: proxy.name, namespace: proxy.namespace, labels: proxy.labels, servicePorts: [] };
  const clusters = buildClusters(snapshot, asProxy, options, out.clusterRefs, clusterPolicy);
  const mesh = meshConfig(options);
  const fixed: EnvoyResource[] = [
    { "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name: passthroughCluster, type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED", connect_timeout: `${mesh.connectTimeoutMs / 1000}s` },
    { "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name: blackHoleCluster, type: "STATIC", connect_timeout: `${mesh.connectTimeoutMs / 1000}s` },
    inboundClusterResource(inboundPassthroughCluster),
  ];
  const unused = snapshot.virtualServices.filter(meshBound).filter((vs) => (vs.spec.tls ?? []).length > 0);
  const notYet: Diagnostic[] = unused.map((vs) => ({
    severity: "warning",
    kind: "VirtualService",
    namespace: namespaceOf(vs),
    name: vs.metadata.name,
    field: "spec.tls",
    message: `tls routes of ${resourceKey(vs)} are not applied to sidecar traffic yet`,
  }));
  return {
    resources: {
      listeners: uniqueSorted([...out.listeners, built.listener]),
      routes: uniqueSorted(out.routes),
      clusters: uniqueSorted([...clusters.clusters, ...fixed, ...built.clusters]),
      endpoints: uniqueSorted(clusters.endpoints),
      secrets: uniqueSorted(clusters.secrets),
    },
    diagnostics: sortDiagnostics([...out.diagnostics, ...clusters.diagnostics, ...notYet]),
  };
}
