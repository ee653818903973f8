/**
 * The Kubernetes source: informers for everything the gateway compiler reads, turned into the
 * same `SnapshotInputs` that `pilotfish compile` builds from files, plus the gateway proxies
 * (Deployments labelled `pilotfish.io/gateway: "true"`).
 *
 * - Istio resources are validated with the API's validator as they arrive; a resource with errors
 *   is left out of the inputs and logged once per resourceVersion (field and fix named), so one bad
 *   VirtualService never affects the others.
 * - Secrets are watched only in the namespaces where credentials can be looked up (gateway
 *   workloads' namespaces and those of Gateways/DestinationRules naming a credentialName), with
 *   a field selector leaving out service-account tokens, Helm releases and registry credentials,
 *   and never pilotfish's own published Secrets (see docs/adr/0003-secrets-watch.md).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { hasErrors, validateResource } from "../../api/validation/index.js";
import type { Finding } from "../../api/validation/index.js";
import type { DestinationRule, Gateway, VirtualService } from "../../model/istio.js";
import type { EndpointSlice, Pod, Secret, Service } from "../../model/kube.js";
import type { GatewayProxy } from "../../model/proxy.js";
import type { SnapshotInputs } from "../../model/snapshot.js";
import { ResilientInformer } from "./informer.js";
import type { ChangeType, InformerSpec } from "./informer.js";
import type { KubeObject, KubeRest } from "./rest.js";

export const gatewayLabel = "pilotfish.io/gateway";
const istioVersion = "networking.istio.io/v1";

export type SourceKind = "Gateway" | "VirtualService" | "DestinationRule" | "Service" | "EndpointSlice" | "Pod" | "Deployment" | "Secret";

export interface SourceChange {
  kind: SourceKind;
  type: ChangeType;
  namespace: string;
  name: string;
}

/** A gateway workload: the Deployment (owner of its published objects) and the proxy it runs. */
export interface GatewayDeployment {
  namespace: string;
  name: string;
  uid: string;
  proxy: GatewayProxy;
}

export interface SourceLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface SourceEvents {
  onChange(change: SourceChange): void;
  /** Every informer has listed once: the inputs are complete. */
  onSynced(): void;
  onInformerError?(informer: string, error: unknown, retryInMs: number): void;
  /** An informer listed (its first sync or a re-list after 410 Gone or a restart). */
  onInformerList?(informer: string): void;
  onInvalidResource?(kind: string, namespace: string, name: string, findings: readonly Finding[]): void;
}

const clusterWideSpecs: readonly (InformerSpec & { sourceKind: SourceKind })[] = [
  { sourceKind: "Gateway", name: "gateways", path: `/apis/${istioVersion}/gateways`, apiVersion: istioVersion, kind: "Gateway" },
  { sourceKind: "VirtualService", name: "virtualservices", path: `/apis/${istioVersion}/virtualservices`, apiVersion: istioVersion, kind: "VirtualService" },
  { sourceKind: "DestinationRule", name: "destinationrules", path: `/apis/${istioVersion}/destinationrules`, apiVersion: istioVersion, kind: "DestinationRule" },
  { sourceKind: "Service", name: "services", path: "/api/v1/services", apiVersion: "v1", kind: "Service" },
  { sourceKind: "EndpointSlice", name: "endpointslices", path: "/apis/discovery.k8s.io/v1/endpointslices", apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice" },
  // Pods only for the labels of endpoint addresses (DestinationRule subsets select by pod label).
  { sourceKind: "Pod", name: "pods", path: "/api/v1/pods", apiVersion: "v1", kind: "Pod", fieldSelector: "status.phase=Running" },
  {
    sourceKind: "Deployment",
    name: "deployments",
    path: "/apis/apps/v1/deployments",
    apiVersion: "apps/v1",
    kind: "Deployment",
    labelSelector: `${gatewayLabel}=true`,
  },
];

/** Secret types that never hold a TLS credential and can be numerous or large. */
export const secretFieldSelector = [
  "type!=kubernetes.io/service-account-token",
  "type!=helm.sh/release.v1",
  "type!=kubernetes.io/dockercfg",
  "type!=kubernetes.io/dockerconfigjson",
  "type!=bootstrap.kubernetes.io/token",
].join(",");
/** pilotfish's own published Secrets (the `-sds` objects) are outputs, never inputs. */
export const secretLabelSelector = "app.kubernetes.io/managed-by!=pilotfish";

/** The part of a Deployment's spec the source reads. */
interface DeploymentSpec {
  template?: {
    metadata?: { labels?: Record<string, string> };
    spec?: { containers?: { ports?: { name?: string; containerPort: number }[] }[] };
  };
}

function meta(object: KubeObject): { namespace: string; name: string } {
  return { namespace: object.metadata?.namespace ?? "", name: object.metadata?.name ?? "" };
}

interface Validated {
  resourceVersion: string;
  valid: boolean;
  problem?: string;
}

export class KubeSource {
  readonly #rest: KubeRest;
  readonly #config: KubeConfig;
  readonly #events: SourceEvents;
  readonly #log: SourceLogger;
  readonly #informers = new Map<SourceKind, ResilientInformer>();
  readonly #secretInformers = new Map<string, ResilientInformer>();
  readonly #validated = new Map<string, Validated>();
  readonly #fingerprints = new Map<string, string>();
  #syncedReported = false;
  #stopped = false;
  /** Bumped on every change: a cheap "has anything changed since" for the snapshot cache. */
  #generation = 0;

  constructor(rest: KubeRest, config: KubeConfig, events: SourceEvents, log: SourceLogger) {
    this.#rest = rest;
    this.#config = config;
    this.#events = events;
    this.#log = log;
  }

  get generation(): number {
    return this.#generation;
  }

  /** What the operator watches, for its first log line. */
  static describeWatches(): string[] {
    return [
      ...clusterWideSpecs.map((spec) => `${spec.name}${spec.labelSelector ? ` (${spec.labelSelector})` : ""}${spec.fieldSelector ? ` (${spec.fieldSelector})` : ""}`),
      "secrets in gateway and credential namespaces only",
    ];
  }

  start(): void {
    for (const spec of clusterWideSpecs) {
      const informer = new ResilientInformer(spec, this.#rest, this.#config, {
        onChange: (type, object) => this.#changed(spec.sourceKind, type, object),
        onSynced: () => this.#checkSynced(),
        onError: (error, retryInMs) => this.#informerError(spec.name, error, retryInMs),
        onListed: () => this.#events.onInformerList?.(spec.name),
        onRelisted: (objects) => this.#log.info(`re-listed ${spec.name}: ${objects} objects (the watch could not resume from its resourceVersion)`, { resource: spec.name }),
      });
      this.#informers.set(spec.sourceKind, informer);
      informer.start();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.#informers.values(), ...this.#secretInformers.values()].map((informer) => informer.stop()));
  }

  get synced(): boolean {
    if (this.#informers.size === 0) return false;
    for (const informer of [...this.#informers.values(), ...this.#secretInformers.values()]) if (!informer.synced) return false;
    return true;
  }

  /** The current gateway workloads, sorted by namespace/name. */
  gatewayDeployments(): GatewayDeployment[] {
    const services = this.#list("Service") as unknown as Service[];
    return this.#list("Deployment")
      .map((deployment) => {
        const { namespace, name } = meta(deployment);
        const spec = deployment.spec as DeploymentSpec | undefined;
        const podLabels = spec?.template?.metadata?.labels ?? {};
        const containerPorts: Record<string, number> = {};
        for (const container of spec?.template?.spec?.containers ?? []) {
          for (const port of container.ports ?? []) if (port.name && !(port.name in containerPorts)) containerPorts[port.name] = port.containerPort;
        }
        return { namespace, name, uid: deployment.metadata?.uid ?? "", proxy: proxyFor(namespace, name, podLabels, services, containerPorts) };
      })
      .sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
  }

  /** The compiler's inputs: valid Istio resources and the Kubernetes objects they refer to. */
  inputs(): SnapshotInputs {
    return {
      gateways: this.#validIstio("Gateway") as unknown as Gateway[],
      virtualServices: this.#validIstio("VirtualService") as unknown as VirtualService[],
      destinationRules: this.#validIstio("DestinationRule") as unknown as DestinationRule[],
      services: this.#list("Service") as unknown as Service[],
      endpointSlices: this.#list("EndpointSlice") as unknown as EndpointSlice[],
      pods: this.#list("Pod") as unknown as Pod[],
      secrets: [...this.#secretInformers.values()].flatMap((informer) => informer.list()) as unknown as Secret[],
    };
  }

  /** Istio resources left out of the compile because they failed validation, with the errors (for their status). */
  invalidIstio(): { kind: "Gateway" | "VirtualService" | "DestinationRule"; object: KubeObject; problem: string }[] {
    const out: { kind: "Gateway" | "VirtualService" | "DestinationRule"; object: KubeObject; problem: string }[] = [];
    for (const kind of ["Gateway", "VirtualService", "DestinationRule"] as const) {
      for (const object of this.#list(kind)) {
        if (this.#isValid(kind, object)) continue;
        const { namespace, name } = meta(object);
        out.push({ kind, object, problem: this.#validated.get(`${kind}/${namespace}/${name}`)?.problem ?? "invalid" });
      }
    }
    return out;
  }

  #list(kind: SourceKind): KubeObject[] {
    return this.#informers.get(kind)?.list() ?? [];
  }

  #validIstio(kind: SourceKind): KubeObject[] {
    return this.#list(kind).filter((object) => this.#isValid(kind, object));
  }

  /** Validates once per resourceVersion; logs the findings of a new invalid version. */
  #isValid(kind: string, object: KubeObject): boolean {
    const { namespace, name } = meta(object);
    const key = `${kind}/${namespace}/${name}`;
    // generation moves only with the spec (status writes do not bump it).
    const resourceVersion = String(object.metadata?.generation ?? object.metadata?.resourceVersion ?? "");
    const known = this.#validated.get(key);
    if (known && known.resourceVersion === resourceVersion) return known.valid;
    let findings: Finding[];
    try {
      findings = validateResource(asWritten(object));
    } catch (error) {
      findings = [{ severity: "error", path: "spec", message: `could not be validated (${describeError(error)}); fix the resource or report a pilotfish bug` }];
    }
    const valid = !hasErrors(findings);
    const errors = findings.filter((finding) => finding.severity === "error");
    this.#validated.set(key, { resourceVersion, valid, ...(valid ? {} : { problem: errors.map((finding) => `${finding.path}: ${finding.message}`).join("; ") }) });
    if (!valid) {
      for (const finding of errors) {
        this.#log.warn(`skipping invalid ${kind} ${namespace}/${name}: ${finding.path}: ${finding.message}`, {
          resource: `${kind}/${namespace}/${name}`,
          field: finding.path,
        });
      }
      this.#events.onInvalidResource?.(kind, namespace, name, errors);
    }
    return valid;
  }

  #changed(kind: SourceKind, type: ChangeType, object: KubeObject): void {
    if (this.#stopped) return;
    // client-node's watch swallows exceptions from callbacks (the event would be silently lost)
    // and a throw during a list aborts it: whatever an object holds, log and carry on.
    try {
      this.#applyChange(kind, type, object);
    } catch (error) {
      const { namespace, name } = meta(object);
      this.#log.error(`could not process ${type} of ${kind} ${namespace}/${name}: ${describeError(error)}`, { resource: `${kind}/${namespace}/${name}` });
    }
  }

  #applyChange(kind: SourceKind, type: ChangeType, object: KubeObject): void {
    const { namespace, name } = meta(object);
    const key = `${kind}/${namespace}/${name}`;
    if (type === "delete") {
      this.#fingerprints.delete(key);
    } else {
      const fingerprint = relevantFingerprint(kind, object);
      const previous = this.#fingerprints.get(key);
      this.#fingerprints.set(key, fingerprint);
      // An update nothing downstream reads (a status write, a pod's readiness, a rollout's
      // replica counts): the informer cache holds the new object, but nothing is recompiled.
      if (type === "update" && previous === fingerprint) return;
    }
    this.#generation++;
    if (kind === "Gateway" || kind === "VirtualService" || kind === "DestinationRule") {
      if (type === "delete") this.#validated.delete(`${kind}/${namespace}/${name}`);
      else this.#isValid(kind, object);
    }
    if (kind === "Gateway" || kind === "DestinationRule" || kind === "Deployment") this.#updateSecretNamespaces();
    this.#events.onChange({ kind, type, namespace, name });
  }

  /** Secret informers follow the namespaces where a credential may be looked up. */
  #updateSecretNamespaces(): void {
    const wanted = new Set<string>();
    for (const deployment of this.#list("Deployment")) wanted.add(meta(deployment).namespace);
    for (const kind of ["Gateway", "DestinationRule"] as const) {
      for (const object of this.#list(kind)) if (JSON.stringify(object.spec ?? {}).includes('"credentialName"')) wanted.add(meta(object).namespace);
    }
    for (const namespace of wanted) {
      if (this.#secretInformers.has(namespace)) continue;
      const spec: InformerSpec = {
        name: `secrets/${namespace}`,
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
        apiVersion: "v1",
        kind: "Secret",
        fieldSelector: secretFieldSelector,
        labelSelector: secretLabelSelector,
      };
      const informer = new ResilientInformer(spec, this.#rest, this.#config, {
        onChange: (type, object) => this.#changed("Secret", type, object),
        onSynced: () => this.#checkSynced(),
        onError: (error, retryInMs) => this.#informerError(spec.name, error, retryInMs),
        onListed: () => this.#events.onInformerList?.(spec.name),
        onRelisted: (objects) => this.#log.info(`re-listed ${spec.name}: ${objects} objects (the watch could not resume from its resourceVersion)`, { resource: spec.name }),
      });
      this.#secretInformers.set(namespace, informer);
      this.#log.info(`watching Secrets in namespace ${namespace}`, { resource: `namespace/${namespace}` });
      informer.start();
    }
    for (const [namespace, informer] of this.#secretInformers) {
      if (wanted.has(namespace)) continue;
      this.#secretInformers.delete(namespace);
      this.#generation++;
      this.#log.info(`no longer watching Secrets in namespace ${namespace}`, { resource: `namespace/${namespace}` });
      void informer.stop();
    }
  }

  #checkSynced(): void {
    // Secret informers can be added later; only the first complete sync is reported.
    if (this.#syncedReported || !this.synced) return;
    this.#syncedReported = true;
    this.#events.onSynced();
  }

  #informerError(name: string, error: unknown, retryInMs: number): void {
    this.#log.warn(`watch of ${name} failed, restarting in ${retryInMs} ms: ${describeError(error)}`, { resource: name });
    this.#events.onInformerError?.(name, error, retryInMs);
  }
}

/**
 * What of an object the compiler and the proxy list read; an update that leaves it unchanged is
 * not a change. Kinds not listed here count every update.
 */
let unversionedCount = 0;

export function relevantFingerprint(kind: SourceKind, object: KubeObject): string {
  const metadata = object.metadata ?? {};
  switch (kind) {
    case "Gateway": {
      // NodePort pins (pilotfish.io/node-port-<port>) are annotations: they count, others do not.
      const annotations = (metadata as { annotations?: Record<string, string> }).annotations ?? {};
      const pins = Object.entries(annotations).filter(([key]) => key.startsWith("pilotfish.io/node-port-")).sort(([a], [b]) => (a < b ? -1 : 1));
      return JSON.stringify([metadata.uid, metadata.generation ?? metadata.resourceVersion, ...(pins.length > 0 ? [pins] : [])]);
    }
    case "VirtualService":
    case "DestinationRule":
      return JSON.stringify([metadata.uid, metadata.generation ?? metadata.resourceVersion]);
    case "Pod": {
      const status = object.status as { podIP?: string; podIPs?: unknown } | undefined;
      return JSON.stringify([metadata.uid, metadata.labels ?? {}, status?.podIP, status?.podIPs]);
    }
    case "Deployment": {
      const template = (object.spec as DeploymentSpec | undefined)?.template;
      return JSON.stringify([metadata.uid, template?.metadata?.labels ?? {}, template?.spec?.containers?.map((container) => container.ports ?? [])]);
    }
    default:
      // Every update of the other kinds counts (an object without a resourceVersion never
      // compares equal to anything).
      return metadata.resourceVersion ?? `unversioned-${++unversionedCount}`;
  }
}

/**
 * The resource as a user writes it: the validator checks Istio's API, and fields the apiserver
 * adds (managedFields, uid, resourceVersion, status...) are not part of it.
 */
export function asWritten(object: KubeObject): KubeObject {
  const metadata = object.metadata ?? {};
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: { name: metadata.name, namespace: metadata.namespace, labels: metadata.labels, annotations: metadata.annotations },
    spec: object.spec,
  };
}

/**
 * The proxy a gateway Deployment runs: its pod labels (what Gateway selectors match) and the
 * ports of the Service in its namespace whose selector picks those pods (port translation:
 * a Gateway server on 80 listens on that port's targetPort). Several Services: their ports are
 * merged, the first (by name) winning for a port number. A named targetPort is resolved against the
 * Deployment's container ports (a Service without targetPort targets its port number: left
 * undefined, the compiler then listens on the port itself).
 */
export function proxyFor(
  namespace: string,
  name: string,
  podLabels: Record<string, string>,
  services: readonly Service[],
  /** Container port numbers by name, for Services whose targetPort is a name. */
  containerPorts: Readonly<Record<string, number>> = {},
): GatewayProxy {
  const selecting = services
    .filter((service) => (service.metadata.namespace ?? "") === namespace)
    .filter((service) => {
      const selector = service.spec?.selector ?? {};
      const entries = Object.entries(selector);
      return entries.length > 0 && entries.every(([key, value]) => podLabels[key] === value);
    })
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  const ports = new Map<number, GatewayProxy["servicePorts"][number]>();
  for (const service of selecting) {
    for (const port of service.spec?.ports ?? []) {
      if (ports.has(port.port)) continue;
      ports.set(port.port, {
        name: port.name,
        port: port.port,
        targetPort: typeof port.targetPort === "number" ? port.targetPort : typeof port.targetPort === "string" ? containerPorts[port.targetPort] : undefined,
        nodePort: port.nodePort,
        protocol: port.protocol,
      });
    }
  }
  return { name, namespace, labels: { ...podLabels }, servicePorts: [...ports.values()].sort((a, b) => a.port - b.port) };
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { statusCode?: number }).statusCode;
    return status ? `${error.message} (HTTP ${status})` : error.message;
  }
  return String(error);
}
