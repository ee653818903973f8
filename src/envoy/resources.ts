/**
 * Envoy v3 resources as plain JSON: the shapes the compiler produces and everything downstream
 * (file layout, bootstraps, publish, ADS) consumes. Types and small pure helpers only; the type
 * URLs live in types.ts.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Any Envoy JSON object (a typed config, a filter chain, a route...). */
export type EnvoyJson = { [key: string]: JsonValue };

/**
 * A top-level xDS resource. `@type` is the resource's type URL; `name` is its xDS name
 * (listeners, route configurations, clusters and secrets use `name`; ClusterLoadAssignment
 * uses `cluster_name`, and `name` mirrors it so every resource is keyed the same way —
 * envoyJson() in cluster.ts strips it before the resource is serialised for Envoy).
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

export function emptyResources(): EnvoyResources {
  return { listeners: [], routes: [], clusters: [], endpoints: [], secrets: [] };
}

/** Sort order for resources (and anything else keyed by `name`): by name, code-unit order. */
export function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
