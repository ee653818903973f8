import { CoreV1Api, DiscoveryV1Api } from "@kubernetes/client-node";
import type { KubeConfig, V1EndpointSlice, V1Service } from "@kubernetes/client-node";

/**
 * The bench has no kubelet and no endpoint controller, so tests do their work: a local upstream
 * process becomes "a pod" by appearing as an endpoint of a Service's EndpointSlice, exactly the
 * objects those controllers would have written.
 */
export interface UpstreamPort {
  /** Service port name; EndpointSlice ports are matched to Service ports by this name. */
  name: string;
  /** The Service's port (what VirtualService destinations name). */
  port: number;
  /** Where the upstream process listens (the pod's containerPort). */
  targetPort: number;
  protocol?: "TCP" | "UDP";
  appProtocol?: string;
}

export interface UpstreamEndpoint {
  /** 127.0.0.x address of the upstream process. */
  address: string;
  ready?: boolean;
  terminating?: boolean;
  /** Stands in for the pod name in targetRef. */
  podName?: string;
}

export interface RegisterUpstreamOptions {
  namespace: string;
  name: string;
  ports: readonly UpstreamPort[];
  endpoints: readonly UpstreamEndpoint[];
  labels?: Record<string, string>;
  /** Pod labels the Service selects (written on the Service; no pod exists to carry them). */
  selector?: Record<string, string>;
}

export interface RegisteredUpstream {
  service: V1Service;
  endpointSlice: V1EndpointSlice;
  /** Replaces the slice's endpoints, as the endpoint controller does when pods come and go. */
  setEndpoints(endpoints: readonly UpstreamEndpoint[]): Promise<V1EndpointSlice>;
}

export function serviceManifest(options: RegisterUpstreamOptions): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: options.name, namespace: options.namespace, labels: { app: options.name, ...options.labels } },
    spec: {
      selector: options.selector ?? { app: options.name },
      ports: options.ports.map((port) => ({
        name: port.name,
        port: port.port,
        targetPort: port.targetPort,
        protocol: port.protocol ?? "TCP",
        ...(port.appProtocol ? { appProtocol: port.appProtocol } : {}),
      })),
    },
  };
}

export function endpointSliceManifest(options: RegisterUpstreamOptions, endpoints = options.endpoints): V1EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${options.name}-bench`,
      namespace: options.namespace,
      labels: {
        "kubernetes.io/service-name": options.name,
        "endpointslice.kubernetes.io/managed-by": "bench.pilotfish.dev",
      },
    },
    addressType: "IPv4",
    ports: options.ports.map((port) => ({ name: port.name, port: port.targetPort, protocol: port.protocol ?? "TCP" })),
    endpoints: endpoints.map((endpoint, index) => ({
      addresses: [endpoint.address],
      conditions: {
        ready: endpoint.ready ?? true,
        serving: endpoint.ready ?? true,
        terminating: endpoint.terminating ?? false,
      },
      targetRef: { kind: "Pod", namespace: options.namespace, name: endpoint.podName ?? `${options.name}-${index}` },
    })),
  };
}

/** Creates (or replaces) the namespace's Service and EndpointSlice for a local upstream. */
export async function registerUpstream(kubeConfig: KubeConfig, options: RegisterUpstreamOptions): Promise<RegisteredUpstream> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const discovery = kubeConfig.makeApiClient(DiscoveryV1Api);
  await ensureNamespace(core, options.namespace);
  const service = await core.createNamespacedService({ namespace: options.namespace, body: serviceManifest(options) });
  const endpointSlice = await discovery.createNamespacedEndpointSlice({
    namespace: options.namespace,
    body: endpointSliceManifest(options),
  });
  return {
    service,
    endpointSlice,
    setEndpoints: (endpoints) =>
      discovery.replaceNamespacedEndpointSlice({
        name: endpointSliceManifest(options).metadata?.name ?? "",
        namespace: options.namespace,
        body: { ...endpointSliceManifest(options, endpoints), metadata: { ...endpointSliceManifest(options).metadata } },
      }),
  };
}

export async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.readNamespace({ name });
  } catch {
    await core.createNamespace({ body: { metadata: { name } } });
  }
}
