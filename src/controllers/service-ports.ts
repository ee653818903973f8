/**
 * Ingress Service ports follow the Gateways (lab L8 without `kubectl edit svc`): every Gateway
 * server port bound to a gateway proxy that the Service exposing the proxy lacks is added by
 * server-side apply with field manager `pilotfish`, not forced. pilotfish's apply configuration
 * holds only its own ports, so the chart's or a user's ports, `type`, `externalTrafficPolicy` and
 * everything else are never touched; a port pilotfish added and no Gateway needs any more leaves
 * the apply configuration and the apiserver removes it. Design in docs/status.md.
 */
import { namespaceOf, resourceKey, selectsProxy } from "../compile/binding.js";
import type { Gateway } from "../model/istio.js";
import type { Service } from "../model/kube.js";
import type { Snapshot } from "../model/snapshot.js";
import { KubeApiError } from "../sources/kube/rest.js";
import type { KubeObject } from "../sources/kube/rest.js";
import type { GatewayDeployment } from "../sources/kube/source.js";

export const FIELD_MANAGER = "pilotfish";
/** `pilotfish.io/node-port-<server port>: "<nodePort>"` on a Gateway pins the NodePort. */
export const NODE_PORT_ANNOTATION_PREFIX = "pilotfish.io/node-port-";

export interface AppliedPort {
  name: string;
  port: number;
  targetPort: number;
  protocol: "TCP";
  nodePort?: number;
  /** `namespace/name` of the Gateway that asked for it (the oldest one). */
  gateway: string;
}

export interface PortProblem {
  /** `namespace/name` of the Gateway to report it on. */
  gateway: string;
  port: number;
  message: string;
}

export interface ServicePortsApi {
  get<T extends KubeObject>(path: string): Promise<T | undefined>;
  apply<T extends KubeObject>(path: string, body: KubeObject, fieldManager: string, force?: boolean): Promise<T>;
}

/** The Service that exposes a proxy: in its namespace, selecting its pod labels; the one named like the Deployment first, else the first by name. */
export function exposingService(services: readonly Service[], deployment: GatewayDeployment): Service | undefined {
  const selecting = services
    .filter((service) => (service.metadata.namespace ?? "default") === deployment.namespace)
    .filter((service) => {
      const entries = Object.entries(service.spec?.selector ?? {});
      return entries.length > 0 && entries.every(([key, value]) => deployment.proxy.labels[key] === value);
    })
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  return selecting.find((service) => service.metadata.name === deployment.name) ?? selecting[0];
}

const created = (gateway: Gateway): string => (gateway.metadata as { creationTimestamp?: string }).creationTimestamp ?? "";

/**
 * The ports pilotfish should own on `service`: Gateway server ports the Service lacks (or that
 * pilotfish already owns), the oldest Gateway winning a port; plus the problems to report.
 */
export function desiredPorts(snapshot: Snapshot, deployment: GatewayDeployment, service: Service, owned: ReadonlySet<number>): { ports: AppliedPort[]; problems: PortProblem[] } {
  const others = new Map<number, string>();
  for (const port of service.spec?.ports ?? []) if (!owned.has(port.port)) others.set(port.port, port.name ?? String(port.port));
  const nodePorts = (service.spec?.type ?? "ClusterIP") === "NodePort" || service.spec?.type === "LoadBalancer";
  const gateways = snapshot.gateways
    .filter((gateway) => selectsProxy(gateway, deployment.proxy))
    .sort((a, b) => (created(a) < created(b) ? -1 : created(a) > created(b) ? 1 : resourceKey(a) < resourceKey(b) ? -1 : 1));
  const claimed = new Map<number, AppliedPort & { serverProtocol: string }>();
  const problems: PortProblem[] = [];
  for (const gateway of gateways) {
    const key = resourceKey(gateway);
    for (const server of gateway.spec.servers ?? []) {
      const number = server.port?.number;
      if (!number || others.has(number)) continue;
      const protocol = (server.port.protocol ?? "TCP").toUpperCase();
      const previous = claimed.get(number);
      if (previous) {
        if (previous.serverProtocol !== protocol) {
          problems.push({ gateway: key, port: number, message: `port ${number} (${protocol}) is already exposed for ${previous.serverProtocol} by the older Gateway ${previous.gateway}; not added to Service ${namespaceOf(service)}/${service.metadata.name}: use another port number` });
        }
        continue;
      }
      const pinned = gateway.metadata.annotations?.[`${NODE_PORT_ANNOTATION_PREFIX}${number}`];
      const nodePort = pinned !== undefined && /^\d+$/.test(pinned) ? Number(pinned) : undefined;
      if (pinned !== undefined && nodePort === undefined) {
        problems.push({ gateway: key, port: number, message: `annotation ${NODE_PORT_ANNOTATION_PREFIX}${number}: "${pinned}" is not a port number; the apiserver allocates the NodePort` });
      }
      claimed.set(number, {
        name: `${protocol.toLowerCase()}-${number}`,
        port: number,
        targetPort: number,
        protocol: "TCP",
        ...(nodePort !== undefined && nodePorts ? { nodePort } : {}),
        gateway: key,
        serverProtocol: protocol,
      });
    }
  }
  const ports = [...claimed.values()].map(({ serverProtocol: _protocol, ...port }) => port).sort((a, b) => a.port - b.port);
  return { ports, problems };
}

/** Port numbers in a managedFields entry of `manager` (fieldsV1 keys `k:{"port":N,"protocol":"TCP"}`). */
export function portsOwnedBy(object: KubeObject, manager: string): Set<number> {
  const owned = new Set<number>();
  const entries = ((object.metadata as { managedFields?: { manager?: string; operation?: string; fieldsV1?: Record<string, unknown> }[] } | undefined)?.managedFields ?? []);
  for (const entry of entries) {
    if (entry.manager !== manager || entry.operation !== "Apply") continue;
    const ports = ((entry.fieldsV1?.["f:spec"] as Record<string, unknown> | undefined)?.["f:ports"] ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(ports)) {
      if (!key.startsWith("k:")) continue;
      try {
        const parsed = JSON.parse(key.slice(2)) as { port?: number };
        if (typeof parsed.port === "number") owned.add(parsed.port);
      } catch {
        // not a port key
      }
    }
  }
  return owned;
}

const servicePath = (namespace: string, name: string): string => `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${encodeURIComponent(name)}`;

const applyBody = (service: Service, ports: readonly AppliedPort[]): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: service.metadata.name, namespace: service.metadata.namespace },
  ...(ports.length > 0 ? { spec: { ports: ports.map(({ gateway: _gateway, ...port }) => port) } } : {}),
});

export interface ServicePortsOutcome {
  service?: string;
  /** Ports pilotfish owns after this reconcile. */
  ports: AppliedPort[];
  problems: PortProblem[];
  /** True when an apply was sent (something changed or first sight of the Service). */
  applied: boolean;
}

export class ServicePortManager {
  readonly #api: ServicePortsApi;
  /** `ns/name` of a Service → the fingerprint of what pilotfish last applied, and the port numbers it owns. */
  readonly #state = new Map<string, { fingerprint: string; owned: Set<number>; rejected: PortProblem[] }>();

  constructor(api: ServicePortsApi) {
    this.#api = api;
  }

  async reconcile(snapshot: Snapshot, deployment: GatewayDeployment, services: readonly Service[]): Promise<ServicePortsOutcome> {
    const service = exposingService(services, deployment);
    if (!service) return { ports: [], problems: [], applied: false };
    const key = `${service.metadata.namespace ?? "default"}/${service.metadata.name}`;
    const path = servicePath(service.metadata.namespace ?? "default", service.metadata.name);
    let state = this.#state.get(key);
    if (!state) {
      // First sight (e.g. after a restart): which ports are ours is in managedFields.
      const current = await this.#api.get<KubeObject>(path);
      if (!current) return { service: key, ports: [], problems: [], applied: false };
      state = { fingerprint: "", owned: portsOwnedBy(current, FIELD_MANAGER), rejected: [] };
      this.#state.set(key, state);
    }
    const { ports, problems } = desiredPorts(snapshot, deployment, service, state.owned);
    const fingerprint = JSON.stringify(ports.map(({ gateway: _gateway, ...port }) => port));
    // Unchanged since the last apply (rejected ports are not retried until the desired set changes).
    if (fingerprint === state.fingerprint) return { service: key, ports: ports.filter((port) => state.owned.has(port.port)), problems: [...problems, ...state.rejected], applied: false };

    const accepted: AppliedPort[] = [];
    const rejected: PortProblem[] = [];
    try {
      await this.#api.apply(path, applyBody(service, ports), FIELD_MANAGER, false);
      accepted.push(...ports);
    } catch (error) {
      if (!isRejection(error)) throw error;
      // One port the Service cannot take must not hold back the others: add them one by one.
      for (const port of ports) {
        try {
          await this.#api.apply(path, applyBody(service, [...accepted, port]), FIELD_MANAGER, false);
          accepted.push(port);
        } catch (portError) {
          if (!isRejection(portError)) throw portError;
          rejected.push({ gateway: port.gateway, port: port.port, message: `Service ${key} did not take port ${port.name} (${port.port}${port.nodePort ? `, nodePort ${port.nodePort}` : ""}): ${(portError as KubeApiError).message}` });
        }
      }
      if (accepted.length < ports.length) await this.#api.apply(path, applyBody(service, accepted), FIELD_MANAGER, false);
    }
    this.#state.set(key, { fingerprint, owned: new Set(accepted.map((port) => port.port)), rejected });
    return { service: key, ports: accepted, problems: [...problems, ...rejected], applied: true };
  }
}

/**
 * The Service refused the ports (not a transient failure): field conflict (409), invalid (400,
 * 422: e.g. "provided port is already allocated"), or the apiserver's 500 for a NodePort the same
 * Service already uses ("duplicate nodePort").
 */
function isRejection(error: unknown): boolean {
  if (!(error instanceof KubeApiError)) return false;
  return error.statusCode === 400 || error.statusCode === 409 || error.statusCode === 422 || (error.statusCode === 500 && /nodePort|port/i.test(error.message));
}
