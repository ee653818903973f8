/**
 * Kubernetes/Istio manifests (YAML text, possibly multi-document, `List` kinds included) → the
 * typed inputs of a snapshot, plus the gateway proxy they describe. Pure: callers read files.
 */
import { loadAll } from "js-yaml";
import type { GatewayProxy } from "./proxy.js";
import type { SnapshotInputs } from "./snapshot.js";
import type { Service } from "./kube.js";

export interface ParsedManifests {
  inputs: Required<SnapshotInputs>;
  /** Kinds that were present but are not compiler inputs (Deployments, ServiceAccounts...). */
  ignoredKinds: string[];
}

type Manifest = { kind?: unknown; metadata?: { namespace?: string; name?: string }; items?: unknown[] };

function isManifest(value: unknown): value is Manifest {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses manifests; `namespace` fills in resources without one (like `kubectl -n`). */
/** Which snapshot input list each understood kind goes to; other kinds are reported as ignored. */
const listOfKind: Readonly<Record<string, keyof Required<SnapshotInputs>>> = {
  Gateway: "gateways",
  VirtualService: "virtualServices",
  DestinationRule: "destinationRules",
  Service: "services",
  EndpointSlice: "endpointSlices",
  Secret: "secrets",
  Pod: "pods",
};

export function parseManifests(texts: readonly string[], namespace = "default"): ParsedManifests {
  const inputs: Required<SnapshotInputs> = { gateways: [], virtualServices: [], destinationRules: [], services: [], endpointSlices: [], secrets: [], pods: [] };
  const lists = inputs as { [K in keyof typeof inputs]: unknown[] };
  const ignored = new Set<string>();
  const add = (doc: unknown): void => {
    if (!isManifest(doc)) return;
    if (doc.kind === "List" && Array.isArray(doc.items)) {
      doc.items.forEach(add);
      return;
    }
    if (!doc.metadata?.name) return;
    const resource = { ...doc, metadata: { ...doc.metadata, namespace: doc.metadata.namespace ?? namespace } };
    const list = listOfKind[String(doc.kind)];
    if (list) lists[list].push(resource);
    else ignored.add(String(doc.kind));
  };
  for (const text of texts) for (const doc of loadAll(text)) add(doc);
  // Like `kubectl apply` of the files in order: a later manifest of the same resource replaces it.
  for (const list of Object.values(lists) as { metadata: { name: string; namespace?: string } }[][]) {
    const last = new Map<string, number>();
    list.forEach((item, index) => last.set(`${item.metadata.namespace}/${item.metadata.name}`, index));
    const kept = list.filter((item, index) => last.get(`${item.metadata.namespace}/${item.metadata.name}`) === index);
    list.splice(0, list.length, ...kept);
  }
  return { inputs, ignoredKinds: [...ignored].sort() };
}

/**
 * The gateway proxy exposed by a Service: the labels are its selector (the gateway pods carry
 * them), the ports its ports with numeric targetPorts.
 */
export function proxyFromService(service: Service): GatewayProxy {
  return {
    name: service.metadata.name,
    namespace: service.metadata.namespace ?? "default",
    labels: { ...(service.spec?.selector ?? {}) },
    servicePorts: (service.spec?.ports ?? []).map((port) => ({
      name: port.name,
      port: port.port,
      targetPort: typeof port.targetPort === "number" ? port.targetPort : undefined,
      nodePort: port.nodePort,
      protocol: port.protocol,
    })),
  };
}

/** The ingress gateway Service among the inputs, if the manifests include one (`istio: ingressgateway`). */
export function findIngressGatewayService(services: readonly Service[]): Service | undefined {
  return services.find((service) => service.spec?.selector?.istio === "ingressgateway");
}
