/**
 * `pilotfish compile --diff`: what applying the given manifests would change in each gateway's
 * published config. The cluster's inputs (what the operator's informers see) overlaid with the
 * manifests (same kind, namespace and name replaces; like `kubectl apply`), compiled per gateway
 * Deployment (`pilotfish.io/gateway: "true"`), compared with the ConfigMaps and Secret the
 * operator published for it: a unified diff per Envoy resource, a summary line per proxy.
 *
 * Published files point their config sources at the pod's files; both sides are compared in the
 * compiler's delivery-neutral form (`ads: {}`), so only the configuration itself differs.
 * Private keys are shown as digests only (diff/resources.ts).
 */
import { load } from "js-yaml";
import { hasErrors, validateResource } from "../../api/validation/index.js";
import { compileGateway } from "../../compile/compile.js";
import type { CompileOptions } from "../../compile/output.js";
import { mapObjects } from "../../envoy/layout.js";
import type { EnvoyJson, EnvoyResource, EnvoyResources } from "../../envoy/resources.js";
import { emptyResources } from "../../envoy/resources.js";
import type { Service } from "../../model/kube.js";
import { buildSnapshot } from "../../model/snapshot.js";
import type { SnapshotInputs } from "../../model/snapshot.js";
import { labels as publishLabels, objectName } from "../../publish/plan.js";
import type { ObjectGroup } from "../../publish/plan.js";
import { KubeRest } from "../../sources/kube/rest.js";
import type { KubeObject } from "../../sources/kube/rest.js";
import { asWritten, gatewayLabel, proxyFor, secretFieldSelector, secretLabelSelector } from "../../sources/kube/source.js";
import { diffConfigs } from "../diff/resources.js";
import type { Progress } from "../progress.js";
import { loadKubeConfig } from "./operator.js";

export interface CompileDiffOptions {
  inputs: Required<SnapshotInputs>;
  labels: Record<string, string> | undefined;
  kubeconfig: string | undefined;
  context: string | undefined;
  compileOptions: CompileOptions;
  out(text: string): void;
  /** stderr: diagnostics and summaries (through the progress reporter, so a spinner is not garbled). */
  err(text: string): void;
  color: boolean;
  /** Phases of the work (reading the cluster, each proxy), shown when it takes more than a second. */
  progress?: Progress;
}

type InputList = keyof Required<SnapshotInputs>;

const istio = "networking.istio.io/v1";
const clusterLists: readonly { list: InputList; path: string; apiVersion: string; kind: string; query?: Record<string, string> }[] = [
  { list: "gateways", path: `/apis/${istio}/gateways`, apiVersion: istio, kind: "Gateway" },
  { list: "virtualServices", path: `/apis/${istio}/virtualservices`, apiVersion: istio, kind: "VirtualService" },
  { list: "destinationRules", path: `/apis/${istio}/destinationrules`, apiVersion: istio, kind: "DestinationRule" },
  { list: "services", path: "/api/v1/services", apiVersion: "v1", kind: "Service" },
  { list: "endpointSlices", path: "/apis/discovery.k8s.io/v1/endpointslices", apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice" },
  { list: "pods", path: "/api/v1/pods", apiVersion: "v1", kind: "Pod", query: { fieldSelector: "status.phase=Running" } },
  { list: "secrets", path: "/api/v1/secrets", apiVersion: "v1", kind: "Secret", query: { fieldSelector: secretFieldSelector, labelSelector: secretLabelSelector } },
];

interface GatewayDeployment {
  namespace: string;
  name: string;
  podLabels: Record<string, string>;
  containerPorts: Record<string, number>;
}

type Named = { metadata: { name: string; namespace?: string } };

/** The cluster's inputs with the manifests applied over them (kind/namespace/name replaces). */
export function overlay(cluster: Required<SnapshotInputs>, manifests: Required<SnapshotInputs>): Required<SnapshotInputs> {
  const merged = {} as Record<InputList, Named[]>;
  for (const list of Object.keys(cluster) as InputList[]) {
    const byKey = new Map<string, Named>();
    for (const item of [...(cluster[list] as readonly Named[]), ...(manifests[list] as readonly Named[])]) {
      byKey.set(`${item.metadata.namespace ?? "default"}/${item.metadata.name}`, item);
    }
    merged[list] = [...byKey.values()];
  }
  return merged as unknown as Required<SnapshotInputs>;
}

/** Published config sources name files in the pod; the compiler's own form is `ads: {}`. */
function deliveryNeutral(resource: EnvoyJson): EnvoyJson {
  return mapObjects(resource, (node) => {
    for (const [key, value] of Object.entries(node)) {
      if (value && typeof value === "object" && !Array.isArray(value) && "path_config_source" in value) {
        node[key] = { ads: {}, resource_api_version: "V3" };
      }
    }
    return node;
  }) as EnvoyJson;
}

function resourcesOfFile(text: string): EnvoyResource[] {
  const parsed = load(text) as { resources?: EnvoyJson[] } | null;
  return (parsed?.resources ?? []).map((resource) => {
    const neutral = deliveryNeutral(resource);
    const name = typeof neutral.name === "string" ? neutral.name : String(neutral.cluster_name ?? "");
    return { ...neutral, "@type": String(neutral["@type"] ?? ""), name } as EnvoyResource;
  });
}

/** The published ConfigMaps' and Secret's files → resources (undefined: nothing published). */
export function publishedResources(files: Readonly<Record<string, string>>): EnvoyResources | undefined {
  const names = Object.keys(files);
  if (names.length === 0) return undefined;
  const resources = emptyResources();
  for (const name of names.sort()) {
    const text = files[name] ?? "";
    if (name === "lds.yaml") resources.listeners.push(...resourcesOfFile(text));
    else if (name === "cds.yaml") resources.clusters.push(...resourcesOfFile(text));
    else if (name.startsWith("rds.")) resources.routes.push(...resourcesOfFile(text));
    else if (name.startsWith("eds.")) resources.endpoints.push(...resourcesOfFile(text));
    else if (name.startsWith("sds.")) resources.secrets.push(...resourcesOfFile(text));
  }
  for (const list of Object.values(resources) as EnvoyResource[][]) list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return resources;
}

/** The compiled resources as a proxy reads them back from its files (for a like-for-like diff). */
function comparable(resources: EnvoyResources): EnvoyResources {
  const normal = (list: EnvoyResource[]): EnvoyResource[] => list.map((resource) => JSON.parse(JSON.stringify(resource)) as EnvoyResource);
  return {
    listeners: normal(resources.listeners),
    routes: normal(resources.routes),
    clusters: normal(resources.clusters),
    endpoints: normal(resources.endpoints),
    secrets: normal(resources.secrets),
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function paint(on: boolean, line: string): string {
  if (!on) return line;
  if (line.startsWith("+++") || line.startsWith("---")) return `\u001b[1m${line}\u001b[0m`;
  if (line.startsWith("+")) return `\u001b[32m${line}\u001b[0m`;
  if (line.startsWith("-")) return `\u001b[31m${line}\u001b[0m`;
  if (line.startsWith("@@")) return `\u001b[36m${line}\u001b[0m`;
  return line;
}

/** Runs the diff; returns the exit code (0 no change, 2 changes, 1 failure). */
export async function runCompileDiff(options: CompileDiffOptions): Promise<number> {
  const { config, from } = loadKubeConfig(options.kubeconfig);
  if (options.context) config.setCurrentContext(options.context);
  const rest = new KubeRest(config);
  const server = config.getCurrentCluster()?.server ?? "?";
  options.progress?.phase(`reading the cluster at ${server} (kubeconfig: ${from})`);

  // The manifests as the validating webhook would take them: invalid ones are refused.
  const refused = new Set<unknown>();
  for (const list of ["gateways", "virtualServices", "destinationRules"] as const) {
    for (const resource of options.inputs[list]) {
      const findings = validateResource(resource);
      if (!hasErrors(findings)) continue;
      refused.add(resource);
      for (const finding of findings.filter((f) => f.severity === "error")) {
        options.err(`${resource.kind} ${resource.metadata.namespace}/${resource.metadata.name}: ${finding.path}: ${finding.message} (would be refused by validation; left out)\n`);
      }
    }
  }
  const manifests = Object.fromEntries(
    Object.entries(options.inputs).map(([list, items]) => [list, (items as readonly unknown[]).filter((item) => !refused.has(item))]),
  ) as unknown as Required<SnapshotInputs>;

  let cluster: Required<SnapshotInputs>;
  let deployments: GatewayDeployment[];
  try {
    const lists = await Promise.all(
      clusterLists.map(async (spec) => {
        const { items } = await rest.list<KubeObject>(spec.path, spec.query ?? {});
        const typed = items.map((item) => ({ ...item, apiVersion: spec.apiVersion, kind: spec.kind }));
        // What the operator's source leaves out, left out here too: Istio resources that fail validation.
        const kept = spec.apiVersion === istio ? typed.filter((item) => !hasErrors(validateResource(asWritten(item)))) : typed;
        return [spec.list, kept] as const;
      }),
    );
    cluster = Object.fromEntries(lists) as unknown as Required<SnapshotInputs>;
    const { items } = await rest.list<KubeObject & { spec?: { template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: { ports?: { name?: string; containerPort: number }[] }[] } } } }>(
      "/apis/apps/v1/deployments",
      { labelSelector: `${gatewayLabel}=true` },
    );
    deployments = items.map((item) => {
      const containerPorts: Record<string, number> = {};
      for (const container of item.spec?.template?.spec?.containers ?? []) for (const port of container.ports ?? []) if (port.name) containerPorts[port.name] = port.containerPort;
      return { namespace: item.metadata?.namespace ?? "default", name: item.metadata?.name ?? "", podLabels: item.spec?.template?.metadata?.labels ?? {}, containerPorts };
    });
  } catch (error) {
    options.err(`pilotfish: cannot read the cluster at ${server} (kubeconfig: ${from}): ${describe(error)}\n`);
    return 1;
  }
  const wanted = options.labels;
  if (wanted) deployments = deployments.filter((d) => Object.entries(wanted).every(([key, value]) => d.podLabels[key] === value));
  deployments.sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
  if (deployments.length === 0) {
    options.err(
      `pilotfish: no gateway Deployment (label ${gatewayLabel}=true${wanted ? ` and pod labels ${Object.entries(wanted).map(([k, v]) => `${k}=${v}`).join(",")}` : ""}) in the cluster: nothing to compare\n`,
    );
    return 1;
  }

  const merged = overlay(cluster, manifests);
  const snapshot = buildSnapshot(merged);
  let changed = 0;
  const sections: string[] = [];
  const summaries: string[] = [];
  for (const deployment of deployments) {
    const key = `${deployment.namespace}/${deployment.name}`;
    options.progress?.phase(`compiling ${key} and reading what the operator published for it`);
    const proxy = proxyFor(deployment.namespace, deployment.name, deployment.podLabels, merged.services as readonly Service[], deployment.containerPorts);
    const result = compileGateway(snapshot, proxy, options.compileOptions);
    for (const d of result.diagnostics) options.err(`${key}: ${d.severity}: ${d.kind} ${d.namespace}/${d.name} ${d.field}: ${d.message}\n`);
    const files: Record<string, string> = {};
    try {
      for (const group of ["lds", "rds", "cds", "eds"] as ObjectGroup[]) {
        const object = await rest.get<KubeObject & { data?: Record<string, string> }>(`/api/v1/namespaces/${deployment.namespace}/configmaps/${objectName(deployment.name, group)}`);
        for (const [name, text] of Object.entries(object?.data ?? {})) if (name !== "envoy.yaml") files[name] = text;
      }
      const secret = await rest.get<KubeObject & { data?: Record<string, string> }>(`/api/v1/namespaces/${deployment.namespace}/secrets/${objectName(deployment.name, "sds")}`);
      for (const [name, base64] of Object.entries(secret?.data ?? {})) files[name] = Buffer.from(base64, "base64").toString("utf8");
    } catch (error) {
        options.err(`pilotfish: cannot read ${key}'s published config (${publishLabels.proxy}): ${describe(error)}\n`);
      return 1;
    }
    const before = publishedResources(files);
    const diff = diffConfigs(before, comparable(result.resources));
    if (diff.changes.length > 0) changed++;
    const summary = `${key}: ${before ? diff.summary : `nothing published yet; ${diff.summary}`}`;
    summaries.push(summary);
    sections.push(paint(options.color, `# ${summary}`));
    for (const change of diff.changes) sections.push(...change.diff.trimEnd().split("\n").map((line) => paint(options.color, line)));
  }
  options.progress?.done();
  options.out(`${sections.join("\n")}\n`);
  options.err(`${summaries.join("\n")}\n${changed === 0 ? "no proxy's config would change" : `${changed} of ${deployments.length} proxies' config would change`}\n`);
  return changed === 0 ? 0 : 2;
}
