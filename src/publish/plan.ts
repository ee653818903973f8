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
 * A plan is refused as a whole (the last good config stays published) when the resources are
 * inconsistent, an object would exceed Kubernetes' 1 MiB, or the proxy would need more file
 * subscriptions (inotify instances) than the budget allows.
 */
import { createHash } from "node:crypto";
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
  kind: "ConfigMap" | "Secret";
  namespace: string;
  name: string;
  /** Plain text values (a Secret's are base64-encoded only when written). */
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
  | { reason: "TooLarge"; message: string; fileSubscriptions: number; objects: readonly { group: ObjectGroup; bytes: number }[] }
  | { reason: "OverSubscriptionBudget"; message: string; fileSubscriptions: number };

export type PlanResult = { ok: true; plan: PublishPlan } | ({ ok: false } & PlanRefusal);

export interface PlanOptions {
  configDir: string;
  bootstrapYaml: string;
  maxFileSubscriptions: number;
}

export function objectName(proxyName: string, group: ObjectGroup): string {
  return `pilotfish-${proxyName}-${group}`;
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

export function dataBytes(data: Readonly<Record<string, string>>): number {
  let total = 0;
  for (const [key, value] of Object.entries(data)) total += Buffer.byteLength(key) + Buffer.byteLength(value);
  return total;
}

/**
 * One inotify-backed subscription per file Envoy reads through `path_config_source`: LDS and CDS,
 * plus one per RDS, EDS and SDS file.
 */
export function fileSubscriptions(resources: EnvoyResources): number {
  return 2 + resources.routes.length + resources.endpoints.length + resources.secrets.length;
}

export function desiredObject(proxy: ProxyWorkload, group: ObjectGroup, data: Record<string, string>): DesiredObject {
  return {
    group,
    kind: group === "sds" ? "Secret" : "ConfigMap",
    namespace: proxy.namespace,
    name: objectName(proxy.name, group),
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
  const objects = writeOrder.map((group) => desiredObject(proxy, group, sortedRecord(byGroup[group])));
  const tooLarge = objects.filter((object) => object.bytes > maxObjectDataBytes);
  if (tooLarge.length > 0) {
    return {
      ok: false,
      reason: "TooLarge",
      message:
        tooLarge.map((object) => `${object.kind} ${object.name} would hold ${object.bytes} bytes`).join("; ") +
        ` (Kubernetes allows ${maxObjectDataBytes}); the last good config stays published. Large configs need ADS delivery (a later pilotfish release)`,
      fileSubscriptions: subscriptions,
      objects: objects.map(({ group, bytes }) => ({ group, bytes })),
    };
  }
  return { ok: true, plan: { objects, fileSubscriptions: subscriptions } };
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
    for (const [key, value] of Object.entries(object.data)) data[key] = Buffer.from(value, "utf8").toString("base64");
    return { apiVersion: "v1", kind: "Secret", metadata, type: "Opaque", data };
  }
  return { apiVersion: "v1", kind: "ConfigMap", metadata, data: object.data };
}
