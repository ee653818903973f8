/**
 * What the compiler returns: Envoy v3 resources as plain JSON, and diagnostics about the input.
 * This module is the contract between the compiler and everything downstream (publish, status,
 * the CLI), so it holds types and small pure helpers only.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Any Envoy JSON object (a typed config, a filter chain, a route...). */
export type EnvoyJson = { [key: string]: JsonValue };

/**
 * A top-level xDS resource. `@type` is the resource's type URL; `name` is its xDS name
 * (listeners, route configurations, clusters and secrets use `name`; ClusterLoadAssignment
 * uses `cluster_name`, and `name` mirrors it so every resource is keyed the same way — the
 * Envoy builders strip it before the resource is serialised for Envoy, see envoy/resources.ts).
 */
export interface EnvoyResource extends EnvoyJson {
  "@type": string;
  name: string;
}

/** Each array is sorted by `name`, so two compiles of the same snapshot are byte-identical. */
export interface EnvoyResources {
  listeners: EnvoyResource[];
  routes: EnvoyResource[];
  clusters: EnvoyResource[];
  endpoints: EnvoyResource[];
  secrets: EnvoyResource[];
}

export type DiagnosticSeverity = "error" | "warning";

/**
 * Something the compiler could not (fully) translate. `kind`/`namespace`/`name` identify the
 * Istio resource to report it on; `field` is a JSON-path-like pointer into its spec
 * (e.g. `spec.servers[1].hosts`), so the status work can publish it as a condition.
 */
export interface Diagnostic {
  severity: DiagnosticSeverity;
  kind: string;
  namespace: string;
  name: string;
  field: string;
  message: string;
}

export interface GatewayServicePort {
  name?: string;
  port: number;
  targetPort?: number;
  nodePort?: number;
  protocol?: string;
}

/** The gateway workload a config is compiled for: its pod labels and the Service exposing it. */
export interface GatewayProxy {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  servicePorts: GatewayServicePort[];
}

/** The classic `istio-ingressgateway` from Istio's chart defaults. */
export const defaultIngressGatewayProxy: GatewayProxy = Object.freeze({
  name: "istio-ingressgateway",
  namespace: "istio-system",
  labels: Object.freeze({ app: "istio-ingressgateway", istio: "ingressgateway" }) as Record<string, string>,
  servicePorts: Object.freeze([
    { name: "http2", port: 80, targetPort: 8080, protocol: "TCP" },
    { name: "https", port: 443, targetPort: 8443, protocol: "TCP" },
    { name: "tcp", port: 31400, targetPort: 31400, protocol: "TCP" },
    { name: "tls", port: 15443, targetPort: 15443, protocol: "TCP" },
  ]) as GatewayServicePort[],
}) as GatewayProxy;

export interface CompileOptions {
  /**
   * Istio ≤ 1.23 listed 503 among the default retriable status codes; 1.24+ does not. The
   * seeds show 1.17, so this is a mesh-wide switch (default: the current Istio behaviour).
   */
  defaultRetryOn503: boolean;
}

export const defaultCompileOptions: CompileOptions = Object.freeze({ defaultRetryOn503: false });

export interface CompileResult {
  resources: EnvoyResources;
  diagnostics: Diagnostic[];
}

export function emptyResources(): EnvoyResources {
  return { listeners: [], routes: [], clusters: [], endpoints: [], secrets: [] };
}

export function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Diagnostics in a stable order: by resource, then field, then message. */
export function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  const key = (d: Diagnostic) => [d.kind, d.namespace, d.name, d.field, d.severity, d.message].join("\u0000");
  return [...diagnostics].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
