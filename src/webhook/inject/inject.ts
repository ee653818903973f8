/**
 * Sidecar injection, pure: pod in, injected pod (and its RFC 6902 JSON Patch) out. The shape is
 * Istio's (pkg/kube/inject): decide (`injectionDecision`), strip what an earlier injection
 * recorded in `sidecar.istio.io/status` (so injecting twice yields the same pod), render the
 * sidecar from the settings and the pod, diff original vs injected with fast-json-patch.
 *
 * Namespace selection (istio-injection=enabled, istio.io/rev) is the webhook configuration's
 * namespaceSelector: the apiserver calls /inject only for pods in selected namespaces.
 */
import jsonpatch from "fast-json-patch";
import type { Operation } from "fast-json-patch";
import { adsSidecarBootstrap, caRootDir, passthroughBootstrap, statusPort, envoyPrometheusPort, agentPrometheusPort, tokenDir } from "./bootstrap.js";
import type { DiscoveryAddress } from "./bootstrap.js";
import { captureRules, defaultCapture, istioIptablesArgs, parseCidrs, parsePorts } from "./iptables.js";
import type { CaptureSettings } from "./iptables.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface InjectionSettings {
  proxyImage: string;
  proxyInitImage: string;
  /** Istio's revision name, recorded in `istio.io/rev` and the status annotation. */
  revision: string;
  clusterId: string;
  meshId: string;
  trustDomain: string;
  /**
   * The operator's ADS server as injected proxies reach it: their bootstrap takes all config from
   * there (compiled per workload). Absent: the static passthrough bootstrap.
   */
  discovery?: DiscoveryAddress;
}

export const defaultInjectionSettings: InjectionSettings = {
  proxyImage: "pilotfish/proxy:1.40.0",
  proxyInitImage: "pilotfish/proxy-init:0.1.0",
  revision: "default",
  clusterId: "Kubernetes",
  meshId: "cluster.local",
  trustDomain: "cluster.local",
};

export const annotations = {
  inject: "sidecar.istio.io/inject",
  status: "sidecar.istio.io/status",
  proxyCpu: "sidecar.istio.io/proxyCPU",
  proxyMemory: "sidecar.istio.io/proxyMemory",
  proxyCpuLimit: "sidecar.istio.io/proxyCPULimit",
  proxyMemoryLimit: "sidecar.istio.io/proxyMemoryLimit",
  includeOutboundIpRanges: "traffic.sidecar.istio.io/includeOutboundIPRanges",
  excludeOutboundIpRanges: "traffic.sidecar.istio.io/excludeOutboundIPRanges",
  includeInboundPorts: "traffic.sidecar.istio.io/includeInboundPorts",
  excludeInboundPorts: "traffic.sidecar.istio.io/excludeInboundPorts",
  excludeOutboundPorts: "traffic.sidecar.istio.io/excludeOutboundPorts",
} as const;

export const proxyContainerName = "istio-proxy";
export const initContainerName = "istio-init";
const injectedVolumes = ["istio-envoy", "istio-data", "istio-podinfo"] as const;
const secureVolumes = ["pilotfish-token", "pilotfish-ca"] as const;

/** The seed's resources (Istio's demo profile): requests 10m / 40Mi, limits 2 CPUs / 1Gi. */
const defaultResources = { requests: { cpu: "10m", memory: "40Mi" }, limits: { cpu: "2", memory: "1Gi" } };

export type Decision = { inject: true } | { inject: false; reason: string };

const object = (value: Json | undefined): JsonObject => (value !== null && typeof value === "object" && !Array.isArray(value) ? value : {});
const array = (value: Json | undefined): Json[] => (Array.isArray(value) ? value : []);
const str = (value: Json | undefined): string | undefined => (typeof value === "string" ? value : undefined);

/** Istio's policy for a pod in a selected namespace: hostNetwork never; the label wins over the annotation. */
export function injectionDecision(pod: JsonObject): Decision {
  const spec = object(pod.spec);
  if (spec.hostNetwork === true) return { inject: false, reason: "hostNetwork pod" };
  const metadata = object(pod.metadata);
  const label = str(object(metadata.labels)[annotations.inject]);
  const annotation = str(object(metadata.annotations)[annotations.inject]);
  const value = label ?? annotation;
  if (value !== undefined && /^(false|n|no|off)$/i.test(value)) {
    return { inject: false, reason: `${label !== undefined ? "label" : "annotation"} ${annotations.inject}=${value}` };
  }
  return { inject: true };
}

interface InjectionStatus {
  initContainers: string[];
  containers: string[];
  volumes: string[];
  imagePullSecrets: string[] | null;
  revision: string;
}

/** Removes exactly what an earlier injection recorded (Istio's stripPod); true when there was one. */
function strip(pod: JsonObject): boolean {
  const metadata = object(pod.metadata);
  const recorded = str(object(metadata.annotations)[annotations.status]);
  if (!recorded) return false;
  let status: Partial<InjectionStatus>;
  try {
    status = JSON.parse(recorded) as Partial<InjectionStatus>;
  } catch {
    return true;
  }
  const spec = object(pod.spec);
  const without = (list: Json | undefined, names: string[] | undefined): Json[] =>
    array(list).filter((item) => !(names ?? []).includes(str(object(item).name) ?? ""));
  for (const [field, names] of [["initContainers", status.initContainers], ["containers", status.containers], ["volumes", status.volumes]] as const) {
    if (spec[field] === undefined) continue;
    const kept = without(spec[field], names);
    if (kept.length > 0) spec[field] = kept;
    else delete spec[field];
  }
  return true;
}

function quantity(pod: JsonObject, annotation: string, fallback: string): string {
  const value = str(object(object(pod.metadata).annotations)[annotation]);
  if (value === undefined) return fallback;
  if (!/^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[numkMGTPE]i?|Ki)?$/.test(value)) throw new Error(`annotation ${annotation}: "${value}" is not a Kubernetes quantity (e.g. 100m, 128Mi)`);
  return value;
}

function captureSettings(pod: JsonObject): CaptureSettings {
  const given = object(object(pod.metadata).annotations);
  const read = (annotation: string): string | undefined => str(given[annotation]);
  const settings: CaptureSettings = { ...defaultCapture };
  const includeOut = read(annotations.includeOutboundIpRanges);
  if (includeOut !== undefined) settings.includeOutboundIpRanges = parseCidrs(includeOut, annotations.includeOutboundIpRanges, true);
  const excludeOut = read(annotations.excludeOutboundIpRanges);
  if (excludeOut !== undefined) settings.excludeOutboundIpRanges = parseCidrs(excludeOut, annotations.excludeOutboundIpRanges, false);
  const includeIn = read(annotations.includeInboundPorts);
  if (includeIn !== undefined) settings.includeInboundPorts = parsePorts(includeIn, annotations.includeInboundPorts, true);
  const excludeIn = read(annotations.excludeInboundPorts);
  if (excludeIn !== undefined) {
    const extra = parsePorts(excludeIn, annotations.excludeInboundPorts, false).map(Number);
    settings.excludeInboundPorts = [...settings.excludeInboundPorts, ...extra.filter((port) => !settings.excludeInboundPorts.includes(port))];
  }
  const excludeOutPorts = read(annotations.excludeOutboundPorts);
  if (excludeOutPorts !== undefined) settings.excludeOutboundPorts = parsePorts(excludeOutPorts, annotations.excludeOutboundPorts, false).map(Number);
  return settings;
}

/** The Deployment behind a ReplicaSet-owned pod, else the direct owner, else the pod (Istio's workload name). */
function workload(pod: JsonObject, namespace: string): { name: string; owner: string } {
  const metadata = object(pod.metadata);
  const owner = array(metadata.ownerReferences).map(object).find((reference) => reference.controller === true) ?? object(array(metadata.ownerReferences)[0]);
  const podName = str(metadata.name) ?? str(metadata.generateName)?.replace(/-$/, "") ?? "";
  const ownerKind = str(owner.kind);
  const ownerName = str(owner.name);
  if (!ownerKind || !ownerName) return { name: podName, owner: `kubernetes://apis/v1/namespaces/${namespace}/pods/${podName}` };
  const hash = str(object(metadata.labels)["pod-template-hash"]);
  if (ownerKind === "ReplicaSet" && hash && ownerName.endsWith(`-${hash}`)) {
    const name = ownerName.slice(0, -hash.length - 1);
    return { name, owner: `kubernetes://apis/apps/v1/namespaces/${namespace}/deployments/${name}` };
  }
  const apiVersion = str(owner.apiVersion) ?? "v1";
  const group = apiVersion.includes("/") ? `apis/${apiVersion}` : `apis/${apiVersion}`;
  return { name: ownerName, owner: `kubernetes://${group}/namespaces/${namespace}/${ownerKind.toLowerCase()}s/${ownerName}` };
}

/** Istio's canonical service labels: explicit label, else app.kubernetes.io/*, else app/version, else workload / "latest". */
function canonical(labels: JsonObject, workloadName: string): { name: string; revision: string } {
  const first = (...keys: string[]): string | undefined => keys.map((key) => str(labels[key])).find((value) => value !== undefined && value !== "");
  return {
    name: first("service.istio.io/canonical-name", "app.kubernetes.io/name", "app") ?? workloadName,
    revision: first("service.istio.io/canonical-revision", "app.kubernetes.io/version", "version") ?? "latest",
  };
}

/** Istio prints ISTIO_META_POD_PORTS as an indented JSON array, one port per line. */
function podPorts(containers: JsonObject[]): string {
  const ports = containers.flatMap((container) => array(container.ports));
  if (ports.length === 0) return "[\n]";
  return `[\n${ports.map((port) => `    ${JSON.stringify(port)}`).join(",\n")}\n]`;
}

const fieldEnv = (name: string, fieldPath: string): Json => ({ name, valueFrom: { fieldRef: { apiVersion: "v1", fieldPath } } });
const resourceEnv = (name: string, resource: string): Json => ({ name, valueFrom: { resourceFieldRef: { divisor: "0", resource } } });

/** Most pods share the default capture settings: their rules are rendered once (a few annotated variants are kept too). */
const renderedCaptures = new Map<string, { args: string; rules: string }>();

function renderedCapture(traffic: CaptureSettings): { args: string; rules: string } {
  const key = JSON.stringify(traffic);
  let rendered = renderedCaptures.get(key);
  if (rendered === undefined) {
    rendered = { args: istioIptablesArgs(traffic).map((arg) => (arg === "" || arg === "*" ? `'${arg}'` : arg)).join(" "), rules: captureRules(traffic) };
    if (renderedCaptures.size >= 64) renderedCaptures.clear();
    renderedCaptures.set(key, rendered);
  }
  return rendered;
}

/** The bootstrap is the same for every pod of one settings object: rendered once. */
const renderedBootstraps = new WeakMap<InjectionSettings, string>();

function bootstrapArg(settings: InjectionSettings): string {
  let rendered = renderedBootstraps.get(settings);
  if (rendered === undefined) {
    rendered = JSON.stringify(settings.discovery ? adsSidecarBootstrap(settings.discovery) : passthroughBootstrap());
    renderedBootstraps.set(settings, rendered);
  }
  return rendered;
}

export interface Injected {
  pod: JsonObject;
  patch: Operation[];
}

/** What the sidecar takes from the pod itself; everything else depends only on the settings and the override annotations. */
interface PodSpecifics {
  podPorts: string;
  appContainers: string;
  workloadName: string;
  owner: string;
}

/** The override annotations the sidecar depends on (capture, resources), in a fixed order: with the settings, they select a rendering. */
const overrideAnnotations = [
  annotations.includeOutboundIpRanges,
  annotations.excludeOutboundIpRanges,
  annotations.includeInboundPorts,
  annotations.excludeInboundPorts,
  annotations.excludeOutboundPorts,
  annotations.proxyCpu,
  annotations.proxyMemory,
  annotations.proxyCpuLimit,
  annotations.proxyMemoryLimit,
] as const;

/**
 * istio-init, istio-proxy (but for the pod's own values), the volumes and the status annotation
 * for one settings object and one set of override annotations. Parsing the overrides happens here
 * (and throws for an invalid one), so a rendering exists only for valid values.
 */
interface Rendering {
  resources: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
  capture: { args: string; rules: string };
  volumes: Json[];
  status: string;
  /** The same, serialized once: what a first injection's patch is written from (`injectionPatchText`). */
  text: { init: string; proxy: Array<string | keyof PodSpecifics>; volumes: string; volumeItems: string[] };
}

/** Per settings object, the renderings by override annotation values; most pods have none, so one entry serves them. */
const renderings = new WeakMap<InjectionSettings, Map<string, Rendering>>();

function overrideKey(pod: JsonObject): string {
  const given = object(object(pod.metadata).annotations);
  let key = "";
  for (const name of overrideAnnotations) {
    const value = given[name];
    key += typeof value === "string" ? `${value}\u0000` : "\u0001";
  }
  return key;
}

/** A placeholder no pod value can be: its JSON spelling marks where a pod's own value goes. */
const slot = (name: keyof PodSpecifics): string => `\u0000${name}\u0000`;
const slotPattern = /"\\u0000(podPorts|appContainers|workloadName|owner)\\u0000"/;

function rendering(pod: JsonObject, settings: InjectionSettings): Rendering {
  let bySettings = renderings.get(settings);
  if (bySettings === undefined) renderings.set(settings, (bySettings = new Map()));
  const key = overrideKey(pod);
  let found = bySettings.get(key);
  if (found !== undefined) return found;
  const resources = {
    requests: { cpu: quantity(pod, annotations.proxyCpu, defaultResources.requests.cpu), memory: quantity(pod, annotations.proxyMemory, defaultResources.requests.memory) },
    limits: { cpu: quantity(pod, annotations.proxyCpuLimit, defaultResources.limits.cpu), memory: quantity(pod, annotations.proxyMemoryLimit, defaultResources.limits.memory) },
  };
  const capture = renderedCapture(captureSettings(pod));
  const secure = settings.discovery?.secure !== undefined;
  const volumes = injectedVolumeList(secure);
  const status: InjectionStatus = {
    initContainers: [initContainerName],
    containers: [proxyContainerName],
    volumes: [...injectedVolumes, ...(secure ? secureVolumes : [])],
    imagePullSecrets: null,
    revision: settings.revision,
  };
  const partial = { resources, capture, volumes, status: JSON.stringify(status) };
  const template = sidecar(partial, settings, { podPorts: slot("podPorts"), appContainers: slot("appContainers"), workloadName: slot("workloadName"), owner: slot("owner") });
  const proxy = JSON.stringify(template.proxy).split(slotPattern) as Array<string | keyof PodSpecifics>;
  found = {
    ...partial,
    text: { init: JSON.stringify(template.init), proxy, volumes: JSON.stringify(volumes), volumeItems: volumes.map((volume) => JSON.stringify(volume)) },
  };
  // A handful of annotated variants at most in practice; the bound keeps a hostile stream of distinct values from growing it.
  if (bySettings.size >= 64) bySettings.clear();
  bySettings.set(key, found);
  return found;
}

function injectedVolumeList(secure: boolean): Json[] {
  return [
    { name: "istio-envoy", emptyDir: { medium: "Memory" } },
    { name: "istio-data", emptyDir: {} },
    {
      name: "istio-podinfo",
      downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }, { path: "annotations", fieldRef: { fieldPath: "metadata.annotations" } }] },
    },
    // The shared xDS contract: the token the operator reviews and the CA it is verified with.
    // The ConfigMap is not optional: a pod waits (ContainerCreating) until the operator has
    // published it in the namespace, rather than start an Envoy that cannot verify the server.
    ...(secure
      ? [
          { name: "pilotfish-token", projected: { sources: [{ serviceAccountToken: { audience: "pilotfish", expirationSeconds: 3600, path: "pilotfish-token" } }] } },
          { name: "pilotfish-ca", configMap: { name: "pilotfish-ca-root" } },
        ]
      : []),
  ];
}

/** The two containers, from a rendering and the pod's own values (or the placeholders marking where they go). */
function sidecar(rendered: Pick<Rendering, "resources" | "capture">, settings: InjectionSettings, specific: PodSpecifics): { init: JsonObject; proxy: JsonObject } {
  const { resources, capture } = rendered;
  const secure = settings.discovery?.secure !== undefined;
  const init: JsonObject = {
    name: initContainerName,
    image: settings.proxyInitImage,
    imagePullPolicy: "IfNotPresent",
    // The image's iptables-restore replaces the pod's nat table with the generated rules, then
    // iptables-save prints the result to the container's log (kubectl logs -c istio-init).
    command: ["/bin/sh", "-c", 'printf "%s" "$ISTIO_IPTABLES_RULES" | iptables-restore && iptables-save -t nat'],
    env: [
      { name: "ISTIO_IPTABLES_ARGS", value: capture.args },
      { name: "ISTIO_IPTABLES_RULES", value: capture.rules },
    ],
    resources,
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] },
      privileged: false,
      readOnlyRootFilesystem: false,
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0,
    },
    terminationMessagePolicy: "FallbackToLogsOnError",
  };

  const proxy: JsonObject = {
    name: proxyContainerName,
    image: settings.proxyImage,
    imagePullPolicy: "IfNotPresent",
    // Access log lines reach `kubectl logs` within a second (Envoy's default flush is every 10 s).
    args: ["--config-yaml", bootstrapArg(settings), "--disable-hot-restart", "--log-level", "warning", "--drain-time-s", "5", "--file-flush-interval-msec", "1000"],
    env: [
      fieldEnv("POD_NAME", "metadata.name"),
      fieldEnv("POD_NAMESPACE", "metadata.namespace"),
      fieldEnv("INSTANCE_IP", "status.podIP"),
      fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
      fieldEnv("HOST_IP", "status.hostIP"),
      resourceEnv("ISTIO_CPU_LIMIT", "limits.cpu"),
      { name: "PROXY_CONFIG", value: "{}\n" },
      { name: "ISTIO_META_POD_PORTS", value: specific.podPorts },
      { name: "ISTIO_META_APP_CONTAINERS", value: specific.appContainers },
      { name: "ISTIO_META_CLUSTER_ID", value: settings.clusterId },
      fieldEnv("ISTIO_META_NODE_NAME", "spec.nodeName"),
      { name: "ISTIO_META_INTERCEPTION_MODE", value: "REDIRECT" },
      { name: "ISTIO_META_WORKLOAD_NAME", value: specific.workloadName },
      { name: "ISTIO_META_OWNER", value: specific.owner },
      { name: "ISTIO_META_MESH_ID", value: settings.meshId },
      { name: "TRUST_DOMAIN", value: settings.trustDomain },
    ],
    ports: [{ containerPort: envoyPrometheusPort, name: "http-envoy-prom", protocol: "TCP" }],
    readinessProbe: { httpGet: { path: "/healthz/ready", port: statusPort }, periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 },
    startupProbe: { httpGet: { path: "/healthz/ready", port: statusPort }, periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 600 },
    resources,
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: 1337,
      runAsNonRoot: true,
      runAsUser: 1337,
    },
    terminationMessagePolicy: "FallbackToLogsOnError",
    volumeMounts: [
      { name: "istio-podinfo", mountPath: "/etc/istio/pod" },
      { name: "istio-envoy", mountPath: "/etc/istio/proxy" },
      { name: "istio-data", mountPath: "/var/lib/istio/data" },
      ...(secure ? [{ name: "pilotfish-token", mountPath: tokenDir, readOnly: true }, { name: "pilotfish-ca", mountPath: caRootDir, readOnly: true }] : []),
    ],
  };
  return { init, proxy };
}

function podSpecifics(pod: JsonObject, appContainers: JsonObject[], namespace: string): PodSpecifics {
  const { name: workloadName, owner } = workload(pod, namespace);
  return { podPorts: podPorts(appContainers), appContainers: appContainers.map((container) => str(container.name) ?? "").join(","), workloadName, owner };
}

/** The labels and annotations an injection sets (a pod's own scrape settings and default container are kept). */
function injectedMetadata(metadata: JsonObject, appContainers: JsonObject[], workloadName: string, settings: InjectionSettings, status: string): { labels: JsonObject; annotations: JsonObject } {
  const labels = object(metadata.labels);
  const names = canonical(labels, workloadName);
  const firstApp = str(appContainers[0]?.name);
  const given = object(metadata.annotations);
  return {
    labels: {
      ...labels,
      "security.istio.io/tlsMode": "istio",
      "service.istio.io/canonical-name": names.name,
      "service.istio.io/canonical-revision": names.revision,
    },
    annotations: {
      ...given,
      "istio.io/rev": settings.revision,
      ...(firstApp ? { "kubectl.kubernetes.io/default-container": str(given["kubectl.kubernetes.io/default-container"]) ?? firstApp } : {}),
      ...(firstApp ? { "kubectl.kubernetes.io/default-logs-container": str(given["kubectl.kubernetes.io/default-logs-container"]) ?? firstApp } : {}),
      "prometheus.io/path": str(given["prometheus.io/path"]) ?? "/stats/prometheus",
      "prometheus.io/port": str(given["prometheus.io/port"]) ?? String(agentPrometheusPort),
      "prometheus.io/scrape": str(given["prometheus.io/scrape"]) ?? "true",
      [annotations.status]: status,
    },
  };
}

/** The injected pod and the patch that turns `original` into it. `namespace` is the request's. */
export function injectPod(original: JsonObject, namespace: string, settings: InjectionSettings): Injected {
  // Shallow copies are enough: only pod, metadata and spec get new members; everything below
  // them that changes (containers lists, labels, annotations) is replaced, never mutated.
  const metadata: JsonObject = { ...object(original.metadata) };
  const spec: JsonObject = { ...object(original.spec) };
  const pod: JsonObject = { ...original, metadata, spec };
  const reinjected = strip(pod);
  const appContainers = array(spec.containers).map(object);
  const rendered = rendering(pod, settings);
  const specific = podSpecifics(pod, appContainers, namespace);
  const { init, proxy } = sidecar(rendered, settings, specific);

  // istio-init after the pod's own init containers (they run before capture, so one that
  // downloads something still reaches the network); istio-proxy after the app's containers.
  spec.initContainers = [...array(spec.initContainers), init];
  spec.containers = [...appContainers, proxy];
  spec.volumes = [...array(spec.volumes), ...rendered.volumes];
  const { labels, annotations: podAnnotations } = injectedMetadata(metadata, appContainers, specific.workloadName, settings, rendered.status);
  metadata.labels = labels;
  metadata.annotations = podAnnotations;
  // A first injection only appends and sets members, so its patch is written directly (the
  // profile's biggest cost was compare's deep clones); a re-injection (strip removed things) is
  // diffed in full. Both turn the original into `pod` exactly (tested).
  return { pod, patch: reinjected ? jsonpatch.compare(original, pod) : appendedPatch(original, pod) };
}

/**
 * The injection's JSON Patch as JSON text, what /inject sends (base64). A first injection of a
 * pod with metadata and spec (every pod the apiserver sends) is written from the rendering's
 * serialized containers and volumes, with only the pod's own values and metadata serialized per
 * pod: the same text as `JSON.stringify(injectPod(...).patch)` (tested), at a fraction of the
 * cost. Anything else takes injectPod's way.
 */
export function injectionPatchText(original: JsonObject, namespace: string, settings: InjectionSettings): { text: string; operations: number } {
  const metadata = original.metadata;
  const spec = original.spec;
  const plain = (value: Json | undefined): value is JsonObject => value !== null && typeof value === "object" && !Array.isArray(value);
  if (!plain(metadata) || !plain(spec) || str(object(metadata.annotations)[annotations.status]) !== undefined) {
    const { patch } = injectPod(original, namespace, settings);
    return { text: JSON.stringify(patch), operations: patch.length };
  }
  const appContainers = array(spec.containers).map(object);
  const rendered = rendering(original, settings);
  const specific = podSpecifics(original, appContainers, namespace);
  const proxy = rendered.text.proxy.map((part, index) => (index % 2 === 1 ? JSON.stringify(specific[part as keyof PodSpecifics]) : part)).join("");
  const injected = injectedMetadata(metadata, appContainers, specific.workloadName, settings, rendered.status);
  const ops: string[] = [
    ...memberOps("/metadata/labels", metadata.labels, injected.labels).map((op) => JSON.stringify(op)),
    ...memberOps("/metadata/annotations", metadata.annotations, injected.annotations).map((op) => JSON.stringify(op)),
  ];
  const add = (path: string, value: string): string => `{"op":"add","path":"${path}","value":${value}}`;
  ops.push(Array.isArray(spec.initContainers) ? add("/spec/initContainers/-", rendered.text.init) : add("/spec/initContainers", `[${rendered.text.init}]`));
  ops.push(Array.isArray(spec.containers) ? add("/spec/containers/-", proxy) : add("/spec/containers", `[${proxy}]`));
  if (Array.isArray(spec.volumes)) ops.push(...rendered.text.volumeItems.map((volume) => add("/spec/volumes/-", volume)));
  else ops.push(add("/spec/volumes", rendered.text.volumes));
  return { text: `[${ops.join(",")}]`, operations: ops.length };
}

/** `add` of a list's new tail items, or of the whole list when the original has none. */
function appendOps(path: string, before: Json | undefined, after: Json[]): Operation[] {
  if (!Array.isArray(before)) return [{ op: "add", path, value: after }];
  return after.slice(before.length).map((value) => ({ op: "add", path: `${path}/-`, value }));
}

/** `add` (which replaces an existing member) of every member that is new or different. */
function memberOps(path: string, before: Json | undefined, after: JsonObject): Operation[] {
  if (before === null || typeof before !== "object" || Array.isArray(before)) return [{ op: "add", path, value: after }];
  return Object.entries(after)
    .filter(([key, value]) => before[key] !== value)
    .map(([key, value]) => ({ op: "add", path: `${path}/${jsonpatch.escapePathComponent(key)}`, value }));
}

/** The patch of a first injection: what injectPod appended to the spec's lists and set in labels/annotations. */
function appendedPatch(original: JsonObject, pod: JsonObject): Operation[] {
  const before = { metadata: object(original.metadata), spec: object(original.spec) };
  const after = { metadata: object(pod.metadata), spec: object(pod.spec) };
  const ops: Operation[] = [];
  if (original.metadata === undefined) ops.push({ op: "add", path: "/metadata", value: after.metadata });
  else {
    ops.push(...memberOps("/metadata/labels", before.metadata.labels, object(after.metadata.labels)));
    ops.push(...memberOps("/metadata/annotations", before.metadata.annotations, object(after.metadata.annotations)));
  }
  if (original.spec === undefined) ops.push({ op: "add", path: "/spec", value: after.spec });
  else {
    for (const field of ["initContainers", "containers", "volumes"] as const) ops.push(...appendOps(`/spec/${field}`, before.spec[field], array(after.spec[field])));
  }
  return ops;
}
