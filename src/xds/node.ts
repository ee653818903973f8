/**
 * Which compiled config a connecting Envoy gets: its proxy key `<namespace>/<gateway Deployment>`
 * (the operator's key), from Istio's node conventions.
 *
 * 1. Metadata `NAMESPACE` and `WORKLOAD_NAME` (what Istio's injector and gateway charts set; the
 *    workload name of a Deployment's pod is the Deployment's name) → `<NAMESPACE>/<WORKLOAD_NAME>`.
 * 2. Else the node id `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`: the namespace
 *    from `<pod>.<namespace>`, the Deployment from the pod name with the ReplicaSet hash and pod
 *    suffix removed (`istio-ingressgateway-5d8f7c9b4-x2kqv` → `istio-ingressgateway`); a pod part
 *    with fewer than three dash-separated words is taken as the Deployment name itself (the
 *    bootstraps pilotfish writes use `istio-ingressgateway.istio-system`).
 * 3. Otherwise the proxy is unidentified and gets nothing (logged, and shown in /debug/syncz).
 */
import type { JsonValue } from "../envoy/resources.js";

export interface NodeInfo {
  id: string;
  cluster: string;
  metadata: { [key: string]: JsonValue };
}

export function proxyKeyOf(node: NodeInfo): string | undefined {
  const namespace = node.metadata.NAMESPACE;
  const workload = node.metadata.WORKLOAD_NAME;
  if (typeof namespace === "string" && namespace !== "" && typeof workload === "string" && workload !== "") return `${namespace}/${workload}`;
  const parts = node.id.split("~");
  if (parts.length !== 4) return undefined;
  const podPart = parts[2] ?? "";
  const dot = podPart.lastIndexOf(".");
  if (dot <= 0 || dot === podPart.length - 1) return undefined;
  const pod = podPart.slice(0, dot);
  const ns = podPart.slice(dot + 1);
  const words = pod.split("-");
  const deployment = words.length >= 3 ? words.slice(0, -2).join("-") : pod;
  return `${ns}/${deployment}`;
}
