/**
 * Envoy bootstraps for compiled gateway config: one reading the file layout (layout.ts), one with
 * everything inlined as static resources (for `envoy --mode validate`, which checks only the
 * bootstrap and never opens the files a path_config_source names).
 */
import type { EnvoyJson, EnvoyResources, JsonValue } from "./resources.js";
import { envoyJson } from "./cluster.js";
import { fileConfigSource, layoutFileNames, mapObjects } from "./layout.js";
import { typeUrl } from "./types.js";

export interface BootstrapOptions {
  /** Admin listens on 127.0.0.1 only: it can change config and kill the process. */
  adminPort: number;
  nodeId?: string;
  nodeCluster?: string;
  /** Read LDS and CDS through this link inside the config folder (layout.ts: kubeletDataLink). */
  dataLink?: string;
}

/**
 * Istio's runtime (istio/istio pkg/bootstrap/config.go `extractRuntimeFlags`, the "global config"
 * static layer and the "admin" layer of tools/packaging/common/envoy_bootstrap.json), limited to
 * what changes which configuration Envoy accepts: RE2 programs up to 32768 instructions (Envoy's
 * default is 100), so every regex Istio's webhook accepts (1,024 characters, `a{1000}`) loads.
 * Istio sets no `re2.max_program_size.warn_level` (Envoy's default: never warn), so neither do we.
 * The validator's limit is the same number (src/api/validation/regex.ts ENVOY_MAX_PROGRAM_SIZE).
 */
export const istioRuntime = { "re2.max_program_size.error_level": "32768" } as const;

export function istioRuntimeLayers(): EnvoyJson[] {
  return [
    { name: "global config", static_layer: { ...istioRuntime } },
    { name: "admin", admin_layer: {} },
  ];
}

function common(options: BootstrapOptions): EnvoyJson {
  return {
    node: { id: options.nodeId ?? "router~127.0.0.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local", cluster: options.nodeCluster ?? "istio-ingressgateway" },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: options.adminPort } } },
    layered_runtime: { layers: istioRuntimeLayers() },
  };
}

/** Reads listeners and clusters (and through them routes, endpoints, secrets) from `configDir`. */
export function fileBootstrap(configDir: string, options: BootstrapOptions): EnvoyJson {
  return {
    ...common(options),
    dynamic_resources: {
      lds_config: fileConfigSource(configDir, layoutFileNames.listeners, options.dataLink),
      cds_config: fileConfigSource(configDir, layoutFileNames.clusters, options.dataLink),
    },
  };
}

/** A resource as a static bootstrap field: the message itself, without its Any `@type`. */
function bare(resource: EnvoyJson): EnvoyJson {
  const { "@type": _type, ...rest } = resource;
  return rest;
}

/** Everything inlined: RDS as `route_config`, EDS as STATIC `load_assignment`, SDS as static secrets. */
export function staticBootstrap(resources: EnvoyResources, options: BootstrapOptions): EnvoyJson {
  const routes = new Map(resources.routes.map((route) => [route.name, bare(route)]));
  const endpoints = new Map(resources.endpoints.map((cla) => [cla.name, bare(envoyJson(cla))]));
  const inline = (node: EnvoyJson): EnvoyJson => {
    const rds = node.rds as EnvoyJson | undefined;
    if (rds && typeof rds.route_config_name === "string" && node["@type"] === typeUrl.httpConnectionManager) {
      const { rds: _rds, ...rest } = node;
      return { ...rest, route_config: routes.get(rds.route_config_name) ?? { name: rds.route_config_name } };
    }
    if (node.sds_config !== undefined && typeof node.name === "string") {
      const { sds_config: _sds, ...rest } = node;
      return rest;
    }
    return node;
  };
  const clusters = resources.clusters.map((cluster) => {
    const inlined = mapObjects(bare(cluster), inline) as EnvoyJson;
    if (inlined.type !== "EDS") return inlined;
    const { eds_cluster_config: _eds, ...rest } = inlined;
    const assignment: JsonValue = endpoints.get(cluster.name) ?? { cluster_name: cluster.name };
    return { ...rest, type: "STATIC", load_assignment: assignment };
  });
  return {
    ...common(options),
    static_resources: {
      listeners: resources.listeners.map((listener) => mapObjects(bare(listener), inline)),
      clusters,
      secrets: resources.secrets.map((secret) => bare(secret)),
    },
  };
}
