/**
 * How compiled resources are laid out as files for Envoy's file-based xDS (`path_config_source`),
 * which is also the ConfigMap publish format: keys are file names.
 *
 * - `lds.yaml` holds every listener, `cds.yaml` every cluster (file LDS/CDS take many resources);
 * - each route configuration, cluster load assignment and secret gets its own file
 *   (`rds.<name>.yaml`, `eds.<name>.yaml`, `sds.<name>.yaml`), because file RDS/EDS/SDS
 *   subscriptions take exactly one resource ("Unexpected EDS resource length" otherwise);
 * - names are escaped to ConfigMap-key characters `[-._a-zA-Z0-9]`.
 *
 * Resources reference one another through config sources; the compiler writes them delivery-
 * neutral (`ads: {}`) and this module points each at its file in `configDir`.
 */
import { createHash } from "node:crypto";
import { dump } from "js-yaml";
import type { EnvoyJson, EnvoyResource, EnvoyResources, JsonValue } from "./resources.js";
import { envoyJson } from "./cluster.js";

export interface LayoutFile {
  /** File name (also the ConfigMap key). */
  name: string;
  content: string;
}

const maxKeyLength = 253;

/** Escapes a resource name into `[-.a-zA-Z0-9]` plus `_XX` hex escapes (injective). */
export function escapeFileName(name: string): string {
  let out = "";
  for (const byte of Buffer.from(name, "utf8")) {
    const ch = String.fromCharCode(byte);
    out += /[-.a-zA-Z0-9]/.test(ch) ? ch : `_${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

function fileName(kind: "rds" | "eds" | "sds", resourceName: string): string {
  const escaped = `${kind}.${escapeFileName(resourceName)}.yaml`;
  if (escaped.length <= maxKeyLength) return escaped;
  const hash = createHash("sha256").update(resourceName).digest("hex").slice(0, 16);
  return `${escaped.slice(0, maxKeyLength - 23)}.${hash}.yaml`;
}

export const layoutFileNames = {
  listeners: "lds.yaml",
  clusters: "cds.yaml",
  route: (name: string) => fileName("rds", name),
  endpoints: (name: string) => fileName("eds", name),
  secret: (name: string) => fileName("sds", name),
};

/**
 * kubelet's atomic writer (ConfigMap, Secret and projected volumes) swaps `<dir>/..data` to a new
 * folder in one rename and only then adds the `<dir>/<key> -> ..data/<key>` link of a key that
 * is new. Envoy reloads on that rename, so a config naming a new file through `<dir>/<key>`
 * races the link ("paths must refer to an existing path", and the cluster stays rejected).
 * Read through `..data` instead: every file of one version appears in the same rename.
 */
export const kubeletDataLink = "..data";

/**
 * A config source reading one file of the layout, reloaded when the directory changes (a move
 * into it: kubelet's swap, or a file renamed into place). With `dataLink`, the file is read
 * through that link inside `configDir` (see kubeletDataLink) while `configDir` is watched.
 */
export function fileConfigSource(configDir: string, file: string, dataLink?: string): EnvoyJson {
  const folder = dataLink ? `${configDir}/${dataLink}` : configDir;
  return {
    path_config_source: { path: `${folder}/${file}`, watched_directory: { path: configDir } },
    resource_api_version: "V3",
  };
}

type Rewriter = (node: EnvoyJson) => EnvoyJson;

/** Applies `rewrite` to every object in a JSON tree, children first. */
export function mapObjects(value: JsonValue, rewrite: Rewriter): JsonValue {
  if (Array.isArray(value)) return value.map((item) => mapObjects(item, rewrite));
  if (value === null || typeof value !== "object") return value;
  const copy: EnvoyJson = {};
  for (const [key, child] of Object.entries(value)) copy[key] = mapObjects(child, rewrite);
  return rewrite(copy);
}

function pointAtFiles(configDir: string, dataLink: string | undefined): Rewriter {
  return (node) => {
    const rds = node.rds as EnvoyJson | undefined;
    if (rds && typeof rds.route_config_name === "string") {
      node.rds = { ...rds, config_source: fileConfigSource(configDir, layoutFileNames.route(rds.route_config_name), dataLink) };
    }
    const eds = node.eds_cluster_config as EnvoyJson | undefined;
    if (eds && typeof node.name === "string") {
      const service = typeof eds.service_name === "string" ? eds.service_name : node.name;
      node.eds_cluster_config = { ...eds, eds_config: fileConfigSource(configDir, layoutFileNames.endpoints(service), dataLink) };
    }
    if (node.sds_config !== undefined && typeof node.name === "string") {
      node.sds_config = fileConfigSource(configDir, layoutFileNames.secret(node.name), dataLink);
    }
    return node;
  };
}

function discoveryFile(name: string, resources: EnvoyResource[], configDir: string, dataLink: string | undefined): LayoutFile {
  const rewritten = resources.map((resource) => mapObjects(envoyJson(resource), pointAtFiles(configDir, dataLink)));
  return { name, content: dump({ resources: rewritten }, { noRefs: true, lineWidth: -1, sortKeys: false }) };
}

/**
 * The files for `resources`, for Envoy reading them from `configDir` (through `dataLink` when
 * the folder is a kubelet volume: see kubeletDataLink). Pure and deterministic.
 */
export function fileLayout(resources: EnvoyResources, configDir: string, dataLink?: string): LayoutFile[] {
  const files: LayoutFile[] = [
    discoveryFile(layoutFileNames.listeners, resources.listeners, configDir, dataLink),
    discoveryFile(layoutFileNames.clusters, resources.clusters, configDir, dataLink),
  ];
  for (const route of resources.routes) files.push(discoveryFile(layoutFileNames.route(route.name), [route], configDir, dataLink));
  for (const cla of resources.endpoints) files.push(discoveryFile(layoutFileNames.endpoints(cla.name), [cla], configDir, dataLink));
  for (const secret of resources.secrets) files.push(discoveryFile(layoutFileNames.secret(secret.name), [secret], configDir, dataLink));
  return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
