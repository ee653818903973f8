/**
 * The durable record: the config the operator published, as kubelet mounted it in the gateway
 * pod (the five ConfigMaps/Secret projected into one folder, src/envoy/layout.ts's file layout),
 * read back into compiled resources. The layout points every RDS/EDS/SDS reference at a file
 * (`path_config_source`); served over ADS they must point back at ADS, as the compiler wrote
 * them, so the agent serves from files exactly what the operator serves over ADS.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { load } from "js-yaml";
import { kubeletDataLink, layoutFileNames, mapObjects } from "../envoy/layout.js";
import type { EnvoyJson, EnvoyResource, EnvoyResources } from "../envoy/resources.js";
import { byName, emptyResources } from "../envoy/resources.js";
import { adsConfigSource, typeUrl } from "../envoy/types.js";
import { consistencyProblems } from "../publish/consistency.js";
import { fileOfKey, isCompressedKey } from "../publish/plan.js";

/** File name prefix → where its resources go. `envoy.yaml` (the bootstrap) and others are ignored. */
function groupOf(file: string): keyof EnvoyResources | undefined {
  if (file === layoutFileNames.listeners) return "listeners";
  if (file === layoutFileNames.clusters) return "clusters";
  if (!file.endsWith(".yaml")) return undefined;
  if (file.startsWith("rds.")) return "routes";
  if (file.startsWith("eds.")) return "endpoints";
  if (file.startsWith("sds.")) return "secrets";
  return undefined;
}

/** A config source reading a file → the ADS config source the compiler wrote. */
function backToAds(node: EnvoyJson): EnvoyJson {
  return node.path_config_source !== undefined ? adsConfigSource() : node;
}

function resourceOf(file: string, value: unknown, index: number): EnvoyResource {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${file}: resources[${index}] is not an object`);
  const json = mapObjects(value as EnvoyJson, backToAds) as EnvoyJson;
  const type = json["@type"];
  if (typeof type !== "string") throw new Error(`${file}: resources[${index}] has no "@type"`);
  // A ClusterLoadAssignment is named by cluster_name (the layout strips the compiler's `name`).
  const name = type === typeUrl.clusterLoadAssignment ? json.cluster_name : json.name;
  if (typeof name !== "string" || name === "") throw new Error(`${file}: resources[${index}] has no name`);
  return { ...json, "@type": type, name };
}

/**
 * The resources in a set of layout files (file name → content). Pure. Throws, naming the file,
 * on anything that is not the layout (so a half-written folder is never served as a config).
 */
export function resourcesFromFiles(files: ReadonlyMap<string, string>): EnvoyResources {
  const resources = emptyResources();
  if (!files.has(layoutFileNames.listeners) || !files.has(layoutFileNames.clusters)) {
    throw new Error(`not a published config: ${layoutFileNames.listeners} and ${layoutFileNames.clusters} are required`);
  }
  for (const [file, content] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const group = groupOf(file);
    if (!group) continue;
    let doc: unknown;
    try {
      doc = load(content);
    } catch (error) {
      throw new Error(`${file}: not YAML: ${error instanceof Error ? error.message : String(error)}`);
    }
    const list = (doc as { resources?: unknown } | null)?.resources ?? [];
    if (!Array.isArray(list)) throw new Error(`${file}: "resources" is not a list`);
    list.forEach((value, index) => resources[group].push(resourceOf(file, value, index)));
  }
  for (const group of Object.keys(resources) as Array<keyof EnvoyResources>) resources[group].sort(byName);
  // The objects of a version reach the folder one by one (kubelet syncs each from its own watch):
  // a mix in which a listener or cluster names a missing resource is not a config to serve.
  const problems = consistencyProblems(resources);
  if (problems.length > 0) throw new Error(`inconsistent (a publish in progress?): ${problems.join("; ")}`);
  return resources;
}

/**
 * Reads the mounted folder: through kubelet's `..data` link when there is one (every file of one
 * version appears in the same rename), else the folder itself (a plain directory, e.g. in tests).
 * Compact files (ADR 0018: `<file>.gz`, or its parts `<file>.gz.000`, `.001`…, possibly from
 * several shard objects) are joined and decompressed; a file present both ways (a group switching
 * form mid-publish) is read from its compressed form.
 */
export function readConfigDir(dir: string): Map<string, string> {
  const dataDir = existsSync(join(dir, kubeletDataLink)) ? join(dir, kubeletDataLink) : dir;
  const plain = new Map<string, string>();
  const compressed = new Map<string, string[]>();
  for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
    if (entry.name.startsWith(".")) continue;
    const file = fileOfKey(entry.name);
    if (!groupOf(file)) continue;
    if (isCompressedKey(entry.name)) compressed.set(file, [...(compressed.get(file) ?? []), entry.name]);
    else plain.set(file, readFileSync(join(dataDir, entry.name), "utf8"));
  }
  const files = new Map(plain);
  for (const [file, keys] of compressed) {
    // `.gz` alone, or `.gz.000`, `.gz.001`…: in name order is in byte order.
    const bytes = Buffer.concat(keys.sort().map((key) => readFileSync(join(dataDir, key))));
    try {
      files.set(file, gunzipSync(bytes).toString("utf8"));
    } catch (error) {
      throw new Error(`${keys.join(", ")}: not gzip (${error instanceof Error ? error.message : String(error)}); a part missing?`);
    }
  }
  return files;
}
