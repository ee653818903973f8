/**
 * What a proxy's published objects should hold: pure, deterministic, no I/O.
 *
 * Per gateway Deployment, five objects in its namespace whose keys are the file layout's names,
 * so one projected volume of the five at the config dir is the directory the bootstrap reads:
 *
 *   ConfigMap pilotfish-<proxy>-lds   lds.yaml + envoy.yaml (the bootstrap)
 *   ConfigMap pilotfish-<proxy>-rds   rds.<route config>.yaml
 *   ConfigMap pilotfish-<proxy>-cds   cds.yaml
 *   ConfigMap pilotfish-<proxy>-eds   eds.<cluster>.yaml
 *   Secret    pilotfish-<proxy>-sds   sds.<secret>.yaml   (TLS private keys live only here)
 *
 * When the agent, not Envoy, reads the files (agent and ads modes: `reader: "agent"`), a group
 * whose plain files would exceed Kubernetes' 1 MiB is stored compact instead (ADR 0018): every
 * file gzip-compressed under `<file>.gz` (cut into `<file>.gz.000`, `.001`… when one file's gzip
 * alone would not fit), packed in order into the group's object and, past 1 MiB, its shards
 * `pilotfish-<proxy>-<group>-1` … `-<maxShardsPerGroup - 1>`, all projected into the same folder.
 * Envoy's bootstrap (`envoy.yaml`) always stays plain. Files mode keeps plain files, one object
 * per group (Envoy reads them).
 *
 * A plan is refused as a whole (the last good config stays published) when the resources are
 * inconsistent, an object would exceed Kubernetes' 1 MiB (a group's shards in compact form), or
 * the proxy would need more file subscriptions (inotify instances) than the budget allows.
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { EnvoyResources } from "../envoy/resources.js";
import { fileLayout, kubeletDataLink } from "../envoy/layout.js";
import { consistencyProblems } from "./consistency.js";

export type ObjectGroup = "lds" | "rds" | "cds" | "eds" | "sds";

/**
 * Write order: what is referenced before what references it. A kubelet sync may project some
 * objects' new content together with others' old content; writing EDS/RDS/SDS first means a new
 * cluster, listener or route always finds its file (see docs/operator.md, "Publish order").
 */
export const writeOrder: readonly ObjectGroup[] = ["eds", "rds", "sds", "cds", "lds"];

export const bootstrapFileName = "envoy.yaml";

/** Kubernetes' limit on a ConfigMap's or Secret's data (sum of key and value bytes). */
export const maxObjectDataBytes = 1024 * 1024;

/**
 * Objects per group in compact form: the group's own plus shards `-1` … `-3`, which the gateway
 * pod's projected volume lists as optional (charts/pilotfish/templates/gateway/deployment.yaml).
 * 4 MiB of gzip per group: ~60 MB of YAML at the ratio measured on 1,000 VirtualServices.
 */
export const maxShardsPerGroup = 4;

/** One piece of a file too large compressed for one object (`<file>.gz.000`, …). */
export const compressedPartBytes = 768 * 1024;

/** Who reads the mounted files: Envoy (files mode, plain files only) or the agent (compact allowed). */
export type FileReader = "envoy" | "agent";

/** Keys whose values are gzip bytes (base64 in a DesiredObject's data): `<file>.gz` or `<file>.gz.NNN`. */
const compressedKey = /\.gz(?:\.\d{3})?$/;

export function isCompressedKey(key: string): boolean {
  return compressedKey.test(key);
}

/** The file a key holds (or a part of): `rds.x.yaml.gz.001` → `rds.x.yaml`. */
export function fileOfKey(key: string): string {
  return key.replace(compressedKey, "");
}

export const labels = {
  managedBy: "app.kubernetes.io/managed-by",
  proxy: "pilotfish.io/proxy",
} as const;
export const managedByValue = "pilotfish";
export const annotations = {
  configHash: "pilotfish.io/config-hash",
  fileSubscriptions: "pilotfish.io/file-subscriptions",
} as const;

export interface ProxyWorkload {
  namespace: string;
  /** The Deployment's name: also the proxy's name in object names and labels. */
  name: string;
  uid: string;
}

export interface DesiredObject {
  group: ObjectGroup;
  /** 0: `pilotfish-<proxy>-<group>`; n > 0: the shard `pilotfish-<proxy>-<group>-<n>` (compact form only). */
  shard: number;
  kind: "ConfigMap" | "Secret";
  namespace: string;
  name: string;
  /**
   * Plain text values (a Secret's are base64-encoded only when written), except compressed keys
   * (isCompressedKey), whose values are the gzip bytes in base64 (a ConfigMap's `binaryData`).
   */
  data: Record<string, string>;
  /** sha256 over the sorted keys and values: equal content, equal hash. */
  hash: string;
  bytes: number;
}

export interface PublishPlan {
  /** In `writeOrder`. */
  objects: DesiredObject[];
  fileSubscriptions: number;
}

export type PlanRefusal =
  | { reason: "Inconsistent"; message: string; fileSubscriptions: number }
  | { reason: "TooLarge"; message: string; fileSubscriptions: number; objects: readonly { group: ObjectGroup; shard: number; bytes: number }[] }
  | { reason: "OverSubscriptionBudget"; message: string; fileSubscriptions: number };

export type PlanResult = { ok: true; plan: PublishPlan } | ({ ok: false } & PlanRefusal);

export interface PlanOptions {
  configDir: string;
  bootstrapYaml: string;
  maxFileSubscriptions: number;
  /** Default "envoy": plain files, one object per group. */
  reader?: FileReader;
}

export function objectName(proxyName: string, group: ObjectGroup, shard = 0): string {
  return shard === 0 ? `pilotfish-${proxyName}-${group}` : `pilotfish-${proxyName}-${group}-${shard}`;
}

export function groupOfFile(fileName: string): ObjectGroup | undefined {
  if (fileName === "lds.yaml" || fileName === bootstrapFileName) return "lds";
  if (fileName === "cds.yaml") return "cds";
  const prefix = fileName.slice(0, 4);
  if (prefix === "rds." || prefix === "eds." || prefix === "sds.") return prefix.slice(0, 3) as ObjectGroup;
  return undefined;
}

export function contentHash(data: Readonly<Record<string, string>>): string {
  const hash = createHash("sha256");
  for (const key of Object.keys(data).sort()) hash.update(key).update("\0").update(data[key] ?? "").update("\0");
  return `sha256:${hash.digest("hex").slice(0, 32)}`;
}

/** What Kubernetes counts against 1 MiB: key bytes plus value bytes (decoded, for compressed keys). */
export function dataBytes(data: Readonly<Record<string, string>>): number {
  let total = 0;
  for (const [key, value] of Object.entries(data)) total += Buffer.byteLength(key) + valueBytes(key, value);
  return total;
}

function valueBytes(key: string, value: string): number {
  return isCompressedKey(key) ? Buffer.byteLength(value, "base64") : Buffer.byteLength(value);
}

/**
 * One inotify-backed subscription per file Envoy reads through `path_config_source`: LDS and CDS,
 * plus one per RDS, EDS and SDS file.
 */
export function fileSubscriptions(resources: EnvoyResources): number {
  return 2 + resources.routes.length + resources.endpoints.length + resources.secrets.length;
}

export function desiredObject(proxy: ProxyWorkload, group: ObjectGroup, data: Record<string, string>, shard = 0): DesiredObject {
  return {
    group,
    shard,
    kind: group === "sds" ? "Secret" : "ConfigMap",
    namespace: proxy.namespace,
    name: objectName(proxy.name, group, shard),
    data,
    hash: contentHash(data),
    bytes: dataBytes(data),
  };
}

export function planPublish(resources: EnvoyResources, proxy: ProxyWorkload, options: PlanOptions): PlanResult {
  const subscriptions = fileSubscriptions(resources);
  const problems = consistencyProblems(resources);
  if (problems.length > 0) {
    return { ok: false, reason: "Inconsistent", message: problems.join("; "), fileSubscriptions: subscriptions };
  }
  if (subscriptions > options.maxFileSubscriptions) {
    return {
      ok: false,
      reason: "OverSubscriptionBudget",
      message:
        `the config needs ${subscriptions} file subscriptions (inotify instances), above the budget of ${options.maxFileSubscriptions} ` +
        "(--max-file-subscriptions); the last good config stays published. Large gateways need ADS delivery (a later pilotfish release)",
      fileSubscriptions: subscriptions,
    };
  }
  const byGroup: Record<ObjectGroup, Record<string, string>> = { lds: {}, rds: {}, cds: {}, eds: {}, sds: {} };
  // Gateway pods read these through a kubelet projected volume: every reference goes through
  // ..data, so a new file and the config naming it appear in the same swap.
  for (const file of fileLayout(resources, options.configDir, kubeletDataLink)) {
    const group = groupOfFile(file.name);
    if (group) byGroup[group][file.name] = file.content;
  }
  byGroup.lds[bootstrapFileName] = options.bootstrapYaml;
  const objects: DesiredObject[] = [];
  for (const group of writeOrder) {
    const plain = desiredObject(proxy, group, sortedRecord(byGroup[group]));
    if (plain.bytes <= maxObjectDataBytes || options.reader !== "agent") objects.push(plain);
    else objects.push(...compactObjects(proxy, group, plain.data));
  }
  const tooLarge = objects.filter((object) => object.bytes > maxObjectDataBytes);
  const tooManyShards = writeOrder.filter((group) => objects.filter((object) => object.group === group).length > maxShardsPerGroup);
  if (tooLarge.length > 0 || tooManyShards.length > 0) {
    const why = [
      ...tooManyShards.map((group) => `even compressed, -${group} would need ${objects.filter((object) => object.group === group).length} objects (at most ${maxShardsPerGroup})`),
      ...tooLarge.map((object) => `${object.kind} ${object.name} would hold ${object.bytes} bytes (Kubernetes allows ${maxObjectDataBytes})`),
    ].join("; ");
    return {
      ok: false,
      reason: "TooLarge",
      message:
        `${why}; the last good config stays published. ` +
        (options.reader === "agent" ? "ADS still serves it; only the durable record is behind" : "Large configs need the agent or ads gateway mode (--gateway-mode), whose published objects are compressed and sharded"),
      fileSubscriptions: subscriptions,
      objects: objects.map(({ group, shard, bytes }) => ({ group, shard, bytes })),
    };
  }
  return { ok: true, plan: { objects, fileSubscriptions: subscriptions } };
}

/**
 * A group's files in compact form: each gzip-compressed (the bootstrap stays plain: Envoy reads
 * it), cut into parts when one alone is over compressedPartBytes, packed in key order into the
 * group's object and as many shards as needed (the caller refuses more than maxShardsPerGroup).
 */
export function compactObjects(proxy: ProxyWorkload, group: ObjectGroup, files: Readonly<Record<string, string>>): DesiredObject[] {
  const entries: [string, string][] = [];
  for (const file of Object.keys(files).sort()) {
    const content = files[file] ?? "";
    if (file === bootstrapFileName) {
      entries.push([file, content]);
      continue;
    }
    // zlib's default level 6: level 9 took 1.8× the time for 3% fewer bytes (ADR 0018). The
    // output is deterministic (Node writes no mtime): equal files, equal hashes, nothing rewritten.
    const gzip = gzipSync(content, { level: 6 });
    if (gzip.length <= compressedPartBytes) {
      entries.push([`${file}.gz`, gzip.toString("base64")]);
      continue;
    }
    for (let offset = 0, part = 0; offset < gzip.length; offset += compressedPartBytes, part++) {
      entries.push([`${file}.gz.${String(part).padStart(3, "0")}`, gzip.subarray(offset, offset + compressedPartBytes).toString("base64")]);
    }
  }
  const shards: Record<string, string>[] = [{}];
  let used = 0;
  for (const [key, value] of entries) {
    const bytes = Buffer.byteLength(key) + valueBytes(key, value);
    if (used + bytes > maxObjectDataBytes && used > 0) {
      shards.push({});
      used = 0;
    }
    (shards[shards.length - 1] as Record<string, string>)[key] = value;
    used += bytes;
  }
  return shards.map((data, shard) => desiredObject(proxy, group, data, shard));
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  const sorted: Record<string, string> = {};
  for (const key of Object.keys(record).sort()) sorted[key] = record[key] ?? "";
  return sorted;
}

/** The apply body of an object: labels, annotations, the Deployment as controlling owner. */
export function objectManifest(object: DesiredObject, proxy: ProxyWorkload, fileSubscriptionCount: number): Record<string, unknown> {
  const metadata = {
    name: object.name,
    namespace: object.namespace,
    labels: { [labels.managedBy]: managedByValue, [labels.proxy]: proxy.name },
    // The subscription count goes on -lds only (it holds the bootstrap that opens them), so a
    // count change alone never rewrites the other four objects.
    annotations: {
      [annotations.configHash]: object.hash,
      ...(object.group === "lds" ? { [annotations.fileSubscriptions]: String(fileSubscriptionCount) } : {}),
    },
    ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: proxy.name, uid: proxy.uid, controller: true, blockOwnerDeletion: false }],
  };
  if (object.kind === "Secret") {
    const data: Record<string, string> = {};
    for (const [key, value] of Object.entries(object.data)) data[key] = isCompressedKey(key) ? value : Buffer.from(value, "utf8").toString("base64");
    return { apiVersion: "v1", kind: "Secret", metadata, type: "Opaque", data };
  }
  const data: Record<string, string> = {};
  const binaryData: Record<string, string> = {};
  for (const [key, value] of Object.entries(object.data)) (isCompressedKey(key) ? binaryData : data)[key] = value;
  // Server-side apply drops the keys pilotfish owned and no longer sends, in either map.
  return { apiVersion: "v1", kind: "ConfigMap", metadata, data, ...(Object.keys(binaryData).length > 0 ? { binaryData } : {}) };
}
