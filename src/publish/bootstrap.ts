/**
 * The bootstrap a gateway pod starts from (`envoy.yaml` in the `-lds` ConfigMap), one per gateway
 * mode (ADR 0010): `files`, the file layout's dynamic resources (src/envoy/bootstrap.ts); `agent`,
 * ADS to the pod's agent over a Unix socket in a shared emptyDir; `ads`, ADS straight to the
 * operator (TLS and the pod's token by default, see `adsClient`). Every mode adds a static
 * readiness listener, so the pod's
 * `readinessProbe: httpGet :15021/healthz/ready` (Istio's port and path) is answered by Envoy
 * itself: the route forwards to the admin's `/ready`, which says LIVE (200) once Envoy has
 * initialised its listeners and clusters, and 503 before that or while draining.
 */
import { dump } from "js-yaml";
import { fileBootstrap, istioRuntimeLayers } from "../envoy/bootstrap.js";
import { kubeletDataLink } from "../envoy/layout.js";
import type { EnvoyJson } from "../envoy/resources.js";
import { socketAddress } from "../envoy/listener.js";
import { filterName, typeUrl } from "../envoy/types.js";

/** How the gateway pod's Envoy gets its config (docs/architecture.md "Gateway modes"). */
export const gatewayModes = ["agent", "ads", "files"] as const;
export type GatewayMode = (typeof gatewayModes)[number];

/** Where the agent listens and Envoy connects in `agent` mode (an emptyDir both containers mount). */
export const defaultAgentSocket = "/var/run/pilotfish/agent.sock";

export interface GatewayBootstrapOptions {
  /** Default `files`. */
  mode?: GatewayMode;
  /** `agent` mode: the agent's Unix socket (default defaultAgentSocket). */
  agentSocket?: string;
  /** `ads` mode: the operator's ADS as the pod reaches it, host:port (an IP or a DNS name). */
  xdsAddress?: string;
  /**
   * `ads` mode: the operator serves TLS and authenticates proxies (its defaults). Envoy verifies
   * the server against the CA root the pod mounts (ConfigMap pilotfish-ca-root) as `serverName`
   * (the name in the operator's serving certificate, pilotfish.<namespace>.svc) and sends the
   * pod's projected pilotfish token. Absent: plaintext, no token (`--xds-plaintext`).
   */
  xdsTls?: { serverName: string };
  /** Where the pod mounts the published objects (the operator's --proxy-config-dir). */
  configDir: string;
  /** Envoy admin, on 127.0.0.1 only (default 15000, Istio's). */
  adminPort: number;
  /** The readiness listener on 0.0.0.0 (default 15021, Istio's status port). */
  statusPort: number;
  /** Node identity: the gateway Deployment. */
  proxyName: string;
  proxyNamespace: string;
}

export const defaultAdminPort = 15000;
export const defaultStatusPort = 15021;
export const readinessPath = "/healthz/ready";
const adminClusterName = "pilotfish-admin";

function readinessListener(statusPort: number): EnvoyJson {
  return {
    name: "pilotfish-status",
    address: socketAddress("0.0.0.0", statusPort),
    filter_chains: [
      {
        filters: [
          {
            name: filterName.httpConnectionManager,
            typed_config: {
              "@type": typeUrl.httpConnectionManager,
              stat_prefix: "pilotfish_status",
              route_config: {
                name: "pilotfish-status",
                virtual_hosts: [
                  {
                    name: "status",
                    domains: ["*"],
                    routes: [{ match: { path: readinessPath }, route: { cluster: adminClusterName, prefix_rewrite: "/ready" } }],
                  },
                ],
              },
              http_filters: [{ name: filterName.router, typed_config: { "@type": typeUrl.router } }],
            },
          },
        ],
      },
    ],
  };
}

function adminCluster(adminPort: number): EnvoyJson {
  return {
    name: adminClusterName,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: adminClusterName,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress("127.0.0.1", adminPort) } }] }],
    },
  };
}

/** `host:port` → its parts; throws naming the flag's expected shape. */
function hostPort(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  const port = Number(match?.[3]);
  if (!match || !(port > 0 && port < 65536)) throw new Error(`invalid ADS address "${address}" for the gateway bootstrap: use host:port, e.g. pilotfish.istio-system.svc:15010`);
  return { host: match[1] ?? match[2] ?? "", port };
}

/**
 * Where the `ads`-mode gateway pod mounts the operator's CA root (ConfigMap pilotfish-ca-root) and
 * its projected ServiceAccount token (audience pilotfish): the chart's gateway template and the
 * injected sidecars (src/webhook/inject/bootstrap.ts) use the same paths.
 */
export const gatewayCaRootPath = "/var/run/pilotfish/ca/root-cert.pem";
export const gatewayTokenPath = "/var/run/secrets/tokens/pilotfish-token";

/**
 * Envoy's ADS client. `agent` mode and plaintext `ads`: Envoy's own gRPC client on the static
 * `xds-grpc` cluster. TLS
 * `ads`: Envoy's Google gRPC client, because only its call credentials read gRPC metadata from a
 * file (`envoy.grpc_credentials.file_based_metadata`, read again for every new stream): the
 * kubelet rotates the projected token, and `envoy_grpc` can send inline metadata only — a token
 * written into the bootstrap would expire with the pod still running. The channel verifies the
 * server against the mounted CA root under `serverName`, whatever address it dials (an IP on the
 * bench's node, the Service name in a cluster).
 */
function adsClient(options: GatewayBootstrapOptions): { grpcService: EnvoyJson; clusters: EnvoyJson[] } {
  if (options.mode === "ads" && options.xdsTls) {
    if (!options.xdsAddress) throw new Error("gateway mode ads needs the operator's ADS address as pods reach it (--xds-proxy-address)");
    const { host, port } = hostPort(options.xdsAddress);
    const serverName = options.xdsTls.serverName;
    return {
      grpcService: {
        google_grpc: {
          target_uri: `${host.includes(":") ? `[${host}]` : host}:${port}`,
          stat_prefix: xdsClusterName,
          channel_credentials: { ssl_credentials: { root_certs: { filename: gatewayCaRootPath } } },
          call_credentials: [
            {
              from_plugin: {
                name: "envoy.grpc_credentials.file_based_metadata",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.config.grpc_credential.v3.FileBasedMetadataConfig",
                  secret_data: { filename: gatewayTokenPath },
                  header_key: "authorization",
                  header_prefix: "Bearer ",
                },
              },
            },
          ],
          credentials_factory_name: "envoy.grpc_credentials.file_based_metadata",
          channel_args: { args: { "grpc.ssl_target_name_override": { string_value: serverName }, "grpc.default_authority": { string_value: serverName } } },
        },
      },
      clusters: [],
    };
  }
  return {
    grpcService: { envoy_grpc: { cluster_name: xdsClusterName } },
    clusters: [xdsCluster(options)],
  };
}

/** The static cluster Envoy's ADS stream uses: HTTP/2 to the agent's socket or to the operator. */
function xdsCluster(options: GatewayBootstrapOptions): EnvoyJson {
  const http2 = {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      explicit_http_config: { http2_protocol_options: {} },
    },
  };
  if (options.mode === "agent") {
    return {
      name: xdsClusterName,
      type: "STATIC",
      connect_timeout: "1s",
      load_assignment: { cluster_name: xdsClusterName, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: options.agentSocket ?? defaultAgentSocket } } } }] }] },
      typed_extension_protocol_options: http2,
    };
  }
  if (!options.xdsAddress) throw new Error("gateway mode ads needs the operator's ADS address as pods reach it (--xds-proxy-address)");
  const { host, port } = hostPort(options.xdsAddress);
  const isIp = /^[\d.]+$/.test(host) || host.includes(":");
  return {
    name: xdsClusterName,
    // A Service name is resolved (and re-resolved) by Envoy; an IP needs no DNS.
    type: isIp ? "STATIC" : "STRICT_DNS",
    connect_timeout: "1s",
    load_assignment: { cluster_name: xdsClusterName, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(host, port) } }] }] },
    typed_extension_protocol_options: http2,
  };
}

const xdsClusterName = "xds-grpc";

/** `agent` and `ads` modes: everything over ADS (Delta: a reconnect re-sends nothing Envoy has). */
function adsGatewayBootstrap(options: GatewayBootstrapOptions): EnvoyJson {
  const ns = options.proxyNamespace;
  const client = adsClient(options);
  return {
    node: {
      id: `router~0.0.0.0~${options.proxyName}.${ns}~${ns}.svc.cluster.local`,
      cluster: options.proxyName,
      // Which gateway this is, for the server (src/xds/node.ts): the Deployment, as Istio names it.
      metadata: { NAMESPACE: ns, WORKLOAD_NAME: options.proxyName },
    },
    admin: { address: socketAddress("127.0.0.1", options.adminPort) },
    layered_runtime: { layers: istioRuntimeLayers() },
    dynamic_resources: {
      ads_config: {
        api_type: "DELTA_GRPC",
        transport_api_version: "V3",
        grpc_services: [client.grpcService],
        set_node_on_first_message_only: true,
      },
      lds_config: { ads: {}, resource_api_version: "V3" },
      cds_config: { ads: {}, resource_api_version: "V3" },
    },
    static_resources: {
      listeners: [readinessListener(options.statusPort)],
      clusters: [adminCluster(options.adminPort), ...client.clusters],
    },
  };
}

export function gatewayBootstrap(options: GatewayBootstrapOptions): EnvoyJson {
  if (options.mode === "agent" || options.mode === "ads") return adsGatewayBootstrap(options);
  const base = fileBootstrap(options.configDir, {
    adminPort: options.adminPort,
    // Istio's node id shape for a router; the pod IP is not known when the ConfigMap is written.
    nodeId: `router~0.0.0.0~${options.proxyName}.${options.proxyNamespace}~${options.proxyNamespace}.svc.cluster.local`,
    nodeCluster: options.proxyName,
    // The folder is a kubelet projected volume: read through ..data (layout.ts says why).
    dataLink: kubeletDataLink,
  });
  return {
    ...base,
    static_resources: { listeners: [readinessListener(options.statusPort)], clusters: [adminCluster(options.adminPort)] },
  };
}

export function gatewayBootstrapYaml(options: GatewayBootstrapOptions): string {
  return dump(gatewayBootstrap(options), { noRefs: true, lineWidth: -1, sortKeys: false });
}
