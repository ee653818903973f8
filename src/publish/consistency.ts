/**
 * go-control-plane's snapshot rule, checked before anything is published: every route config a
 * listener names (RDS), every cluster load assignment an EDS cluster names and every secret an
 * SDS config names is present. A file subscription to a missing file leaves Envoy waiting (or
 * warming forever), so an inconsistent set is refused rather than half-applied.
 */
import type { EnvoyJson, EnvoyResources, JsonValue } from "../envoy/resources.js";

function walk(value: JsonValue, visit: (node: EnvoyJson) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) walk(item, visit);
    return;
  }
  if (value === null || typeof value !== "object") return;
  visit(value);
  for (const child of Object.values(value)) walk(child, visit);
}

export interface References {
  routes: Set<string>;
  endpoints: Set<string>;
  secrets: Set<string>;
}

/** The RDS, EDS and SDS names the listeners and clusters point at. */
export function referencedNames(resources: EnvoyResources): References {
  const references: References = { routes: new Set(), endpoints: new Set(), secrets: new Set() };
  const visit = (node: EnvoyJson): void => {
    const rds = node.rds;
    if (rds && typeof rds === "object" && !Array.isArray(rds) && typeof rds.route_config_name === "string") {
      references.routes.add(rds.route_config_name);
    }
    const eds = node.eds_cluster_config;
    if (eds && typeof eds === "object" && !Array.isArray(eds) && typeof node.name === "string") {
      references.endpoints.add(typeof eds.service_name === "string" ? eds.service_name : node.name);
    }
    if (node.sds_config !== undefined && typeof node.name === "string") references.secrets.add(node.name);
  };
  for (const resource of [...resources.listeners, ...resources.clusters]) walk(resource, visit);
  return references;
}

/** Problems that make the set unpublishable, one sentence each; empty when consistent. */
export function consistencyProblems(resources: EnvoyResources): string[] {
  const references = referencedNames(resources);
  const problems: string[] = [];
  const missing = (kind: string, wanted: Set<string>, present: { name: string }[]): void => {
    const have = new Set(present.map((resource) => resource.name));
    for (const name of [...wanted].sort()) if (!have.has(name)) problems.push(`${kind} ${name} is referenced but not compiled`);
  };
  missing("route configuration", references.routes, resources.routes);
  missing("cluster load assignment", references.endpoints, resources.endpoints);
  missing("secret", references.secrets, resources.secrets);
  return problems;
}
