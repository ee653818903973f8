/**
 * Envoy's admin /config_dump (with ?include_eds) read back into the compiler's resource shape,
 * so a live proxy is traced and tabulated by the same code as a compiled one. Static and
 * dynamic (active) resources both count; warming listeners are reported apart because Envoy
 * does not serve them yet.
 */
import type { EnvoyJson, EnvoyResource, EnvoyResources, JsonValue } from "../envoy/resources.js";
import { emptyResources } from "../envoy/resources.js";
import { asObject, asObjects, asString, at } from "./json.js";

export interface DumpedResources {
  resources: EnvoyResources;
  /** Listeners Envoy has accepted but not activated (waiting for RDS/SDS/EDS). */
  warmingListeners: string[];
  /** version_info of each dynamic resource, by "<kind>/<name>". */
  versions: Map<string, string>;
}

type Kind = keyof EnvoyResources;

/** Where each kind lives in its *ConfigDump, and the field that holds the resource. */
const sections: Array<{ typeSuffix: string; kind: Kind; lists: Array<[string, string[]]> }> = [
  { typeSuffix: "ListenersConfigDump", kind: "listeners", lists: [["static_listeners", ["listener"]], ["dynamic_listeners", ["active_state", "listener"]]] },
  { typeSuffix: "RoutesConfigDump", kind: "routes", lists: [["static_route_configs", ["route_config"]], ["dynamic_route_configs", ["route_config"]]] },
  { typeSuffix: "ClustersConfigDump", kind: "clusters", lists: [["static_clusters", ["cluster"]], ["dynamic_active_clusters", ["cluster"]]] },
  { typeSuffix: "EndpointsConfigDump", kind: "endpoints", lists: [["static_endpoint_configs", ["endpoint_config"]], ["dynamic_endpoint_configs", ["endpoint_config"]]] },
  { typeSuffix: "SecretsConfigDump", kind: "secrets", lists: [["static_secrets", ["secret"]], ["dynamic_active_secrets", ["secret"]]] },
];

function asResource(value: JsonValue | undefined): EnvoyResource | undefined {
  const object = asObject(value);
  if (!object) return undefined;
  const name = asString(object.name) ?? asString(object.cluster_name);
  if (name === undefined) return undefined;
  return { ...object, "@type": asString(object["@type"]) ?? "", name };
}

export function resourcesFromConfigDump(dump: unknown): DumpedResources {
  const resources = emptyResources();
  const warmingListeners: string[] = [];
  const versions = new Map<string, string>();
  const configs = asObjects(asObject(dump as JsonValue)?.configs);
  for (const config of configs) {
    const type = asString(config["@type"]) ?? "";
    const section = sections.find((candidate) => type.endsWith(candidate.typeSuffix));
    if (!section) continue;
    for (const [list, path] of section.lists) {
      for (const entry of asObjects(config[list])) {
        const resource = asResource(at(entry, ...path));
        if (!resource) {
          const warming = asString(at(entry, "warming_state", "listener", "name"));
          if (warming !== undefined) warmingListeners.push(warming);
          continue;
        }
        resources[section.kind].push(resource);
        const version = asString(entry.version_info) ?? asString(at(entry, "active_state", "version_info"));
        if (version !== undefined) versions.set(`${section.kind}/${resource.name}`, version);
      }
    }
  }
  return { resources, warmingListeners, versions };
}

/** A secret with every private part removed (Envoy already redacts them; a file-compiled secret is not). */
export function withoutPrivateKeys(secret: EnvoyJson): EnvoyJson {
  const strip = (value: JsonValue): JsonValue => {
    if (Array.isArray(value)) return value.map(strip);
    const object = asObject(value);
    if (!object) return value;
    const out: EnvoyJson = {};
    for (const [key, field] of Object.entries(object)) out[key] = key === "private_key" || key === "password" ? "[redacted]" : strip(field);
    return out;
  };
  return strip(secret) as EnvoyJson;
}
