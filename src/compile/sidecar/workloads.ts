/**
 * Which sidecar configs exist: the injected pods, grouped by workload (pure).
 *
 * A pod is a sidecar when the injector recorded `sidecar.istio.io/status` and it has an
 * `istio-proxy` container. Its workload is the one the injector wrote into that container's
 * `ISTIO_META_WORKLOAD_NAME` (the Deployment behind a ReplicaSet, else the owner, else the pod) —
 * the same value the proxy sends as node metadata `WORKLOAD_NAME`, so the config's key
 * `<namespace>/<workload>` is the key the ADS server gives the connection (src/xds/node.ts).
 *
 * A workload's ports (its inbound listener's filter chains) are the union over its pods of the
 * app containers' ports and the ports the Services selecting them target; a Service port's name
 * or appProtocol says the protocol (Istio's rule), so `http` on a Service makes the target port
 * HTTP inbound even when the container port is unnamed.
 */
import type { Service } from "../../model/kube.js";
import type { SidecarPort, SidecarProxy } from "./compile.js";

/** The parts of a Pod this module reads (the informer's objects carry the whole pod). */
export interface SidecarPod {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    containers?: {
      name: string;
      ports?: { name?: string; containerPort: number; protocol?: string }[];
      env?: { name: string; value?: string }[];
    }[];
  };
}

export const injectionStatusAnnotation = "sidecar.istio.io/status";
export const proxyContainer = "istio-proxy";
/** Labels that differ between a workload's pods and say nothing about the workload. */
const perPodLabels = new Set(["pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name", "pod-template-generation"]);

export interface SidecarWorkload extends SidecarProxy {
  /** `<namespace>/<workload>`: the proxy key. */
  key: string;
  /** The pods behind it, sorted. */
  pods: string[];
}

/** The workload name an injected pod's proxy announces, or undefined for a pod without a sidecar. */
export function sidecarWorkloadOf(pod: SidecarPod): string | undefined {
  if (!pod.metadata.annotations?.[injectionStatusAnnotation]) return undefined;
  const proxy = pod.spec?.containers?.find((container) => container.name === proxyContainer);
  if (!proxy) return undefined;
  const workload = proxy.env?.find((entry) => entry.name === "ISTIO_META_WORKLOAD_NAME")?.value;
  return workload || pod.metadata.name;
}

function selects(service: Service, pod: SidecarPod): boolean {
  const selector = service.spec?.selector;
  if (!selector || Object.keys(selector).length === 0) return false;
  if ((service.metadata.namespace ?? "default") !== (pod.metadata.namespace ?? "default")) return false;
  const labels = pod.metadata.labels ?? {};
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

function podPorts(pod: SidecarPod, services: readonly Service[]): SidecarPort[] {
  const apps = (pod.spec?.containers ?? []).filter((container) => container.name !== proxyContainer);
  const byPort = new Map<number, SidecarPort>();
  const named = new Map<string, number>();
  for (const container of apps) {
    for (const port of container.ports ?? []) {
      if (port.protocol && port.protocol !== "TCP") continue;
      if (port.name) named.set(port.name, port.containerPort);
      if (!byPort.has(port.containerPort)) byPort.set(port.containerPort, { port: port.containerPort, ...(port.name ? { name: port.name } : {}) });
    }
  }
  for (const service of services) {
    if (!selects(service, pod)) continue;
    for (const servicePort of service.spec?.ports ?? []) {
      if (servicePort.protocol && servicePort.protocol !== "TCP") continue;
      const target = servicePort.targetPort ?? servicePort.port;
      const port = typeof target === "number" ? target : /^\d+$/.test(target) ? Number(target) : named.get(target);
      if (port === undefined) continue;
      // The Service's name/appProtocol decides the protocol (Istio's inbound rule).
      byPort.set(port, { port, ...(servicePort.name ? { name: servicePort.name } : {}), ...(servicePort.appProtocol ? { appProtocol: servicePort.appProtocol } : {}) });
    }
  }
  return [...byPort.values()];
}

/** Every sidecar workload among `pods`, sorted by key. */
export function sidecarWorkloads(pods: readonly SidecarPod[], services: readonly Service[]): SidecarWorkload[] {
  const workloads = new Map<string, SidecarWorkload>();
  const sorted = [...pods].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  for (const pod of sorted) {
    const name = sidecarWorkloadOf(pod);
    if (!name) continue;
    const namespace = pod.metadata.namespace ?? "default";
    const key = `${namespace}/${name}`;
    const labels = Object.fromEntries(Object.entries(pod.metadata.labels ?? {}).filter(([label]) => !perPodLabels.has(label)));
    const workload = workloads.get(key) ?? { key, name, namespace, labels, ports: [], pods: [] };
    workload.pods.push(pod.metadata.name);
    const known = new Map(workload.ports.map((port) => [port.port, port]));
    for (const port of podPorts(pod, services)) if (!known.has(port.port)) known.set(port.port, port);
    workload.ports = [...known.values()].sort((a, b) => a.port - b.port);
    workloads.set(key, workload);
  }
  return [...workloads.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
