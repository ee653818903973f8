/**
 * What the injected istio-proxy runs until sidecar config is compiled and delivered (docs/injection.md,
 * "What the proxy runs"): a static Envoy bootstrap that is a transparent passthrough with Istio's
 * listener and cluster names —
 *
 * - `virtualOutbound` 0.0.0.0:15001: original destination (SO_ORIGINAL_DST of the REDIRECT, by
 *   the original_dst listener filter), TCP proxy to `PassthroughCluster` (ORIGINAL_DST), access
 *   log to stdout;
 * - `virtualInbound` 0.0.0.0:15006: the same to `InboundPassthroughCluster`, bound to source
 *   127.0.0.6 so the capture rules let the connection reach the app without re-capturing it;
 * - 15021 `/healthz/ready` → admin `/ready` (readiness and startup probes); 15090 and 15020
 *   `/stats/prometheus` → admin (Istio's Envoy and agent ports); admin on 127.0.0.1:15000 only.
 *
 * Pure. Envoy validates it in test/unit/webhook (envoy --mode validate).
 */
import { istioRuntimeLayers } from "../../envoy/bootstrap.js";
import type { EnvoyJson } from "../../envoy/resources.js";
import { inboundPassthroughSource } from "./iptables.js";

export const adminPort = 15000;
export const statusPort = 15021;
export const envoyPrometheusPort = 15090;
export const agentPrometheusPort = 15020;

const typed = (type: string, config: EnvoyJson = {}): EnvoyJson => ({ "@type": `type.googleapis.com/${type}`, ...config });
const address = (host: string, port: number): EnvoyJson => ({ socket_address: { address: host, port_value: port } });

/** Istio's default access log line (the gateway's format), written to stdout. */
const accessLogFormat =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% ' +
  '%DURATION% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" ' +
  "%UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME% listener=%LISTENER_NAME%\n";

const stdoutLog: EnvoyJson = {
  name: "envoy.access_loggers.stdout",
  typed_config: typed("envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", {
    log_format: { text_format_source: { inline_string: accessLogFormat } },
  }),
};

function passthroughListener(name: string, port: number, cluster: string): EnvoyJson {
  return {
    name,
    address: address("0.0.0.0", port),
    // Only the original_dst listener filter (it restores the destination for the ORIGINAL_DST
    // cluster), not use_original_dst: that would hand a connection to web:15021 to this Envoy's
    // own 0.0.0.0:15021 status listener instead of passing it through.
    listener_filters: [{ name: "envoy.filters.listener.original_dst", typed_config: typed("envoy.extensions.filters.listener.original_dst.v3.OriginalDst") }],
    filter_chains: [{
      filters: [{
        name: "envoy.filters.network.tcp_proxy",
        typed_config: typed("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", { stat_prefix: cluster, cluster, access_log: [stdoutLog] }),
      }],
    }],
  };
}

function adminRouteListener(name: string, port: number, routes: EnvoyJson[]): EnvoyJson {
  return {
    name,
    address: address("0.0.0.0", port),
    filter_chains: [{
      filters: [{
        name: "envoy.filters.network.http_connection_manager",
        typed_config: typed("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", {
          stat_prefix: name,
          route_config: { name, virtual_hosts: [{ name, domains: ["*"], routes }] },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: typed("envoy.extensions.filters.http.router.v3.Router") }],
        }),
      }],
    }],
  };
}

const toAdmin = (path: string, rewrite: string): EnvoyJson => ({ match: { path }, route: { cluster: "pilotfish-admin", prefix_rewrite: rewrite } });

/** 15021 `/healthz/ready` → admin `/ready`; 15090 and 15020 `/stats/prometheus` → admin. */
function statusListeners(): EnvoyJson[] {
  const prometheus = [toAdmin("/stats/prometheus", "/stats/prometheus")];
  return [
    adminRouteListener("status", statusPort, [toAdmin("/healthz/ready", "/ready")]),
    adminRouteListener("prometheus", envoyPrometheusPort, prometheus),
    adminRouteListener("agent-prometheus", agentPrometheusPort, prometheus),
  ];
}

const adminCluster: EnvoyJson = {
  name: "pilotfish-admin",
  type: "STATIC",
  connect_timeout: "1s",
  load_assignment: { cluster_name: "pilotfish-admin", endpoints: [{ lb_endpoints: [{ endpoint: { address: address("127.0.0.1", adminPort) } }] }] },
};

export function passthroughBootstrap(): EnvoyJson {
  return {
    node: { id: "sidecar", cluster: "sidecar" },
    admin: { address: address("127.0.0.1", adminPort) },
    static_resources: {
      listeners: [
        passthroughListener("virtualOutbound", 15001, "PassthroughCluster"),
        passthroughListener("virtualInbound", 15006, "InboundPassthroughCluster"),
        ...statusListeners(),
      ],
      clusters: [
        { name: "PassthroughCluster", type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED", connect_timeout: "10s" },
        {
          name: "InboundPassthroughCluster",
          type: "ORIGINAL_DST",
          lb_policy: "CLUSTER_PROVIDED",
          connect_timeout: "10s",
          upstream_bind_config: { source_address: { address: inboundPassthroughSource, port_value: 0 } },
        },
        adminCluster,
      ],
    },
  };
}

/** Where injected proxies reach the operator's ADS server (`--sidecar-discovery-address`). */
export interface DiscoveryAddress {
  host: string;
  port: number;
  /**
   * The shared xDS contract (docs/xds.md): TLS verified against the operator's CA (ConfigMap
   * `pilotfish-ca-root`, mounted at `caRootPath`) for this server name, and the pod's projected
   * token (audience `pilotfish`, at `tokenPath`) as `authorization: Bearer`. Absent: plaintext, no token.
   */
  secure?: { serverName: string };
}

/** Where the injected pod mounts the operator's CA root (ConfigMap pilotfish-ca-root) and its pilotfish token. */
export const caRootDir = "/var/run/pilotfish/ca";
export const caRootPath = `${caRootDir}/root-cert.pem`;
export const tokenDir = "/var/run/secrets/tokens";
export const tokenPath = `${tokenDir}/pilotfish-token`;

/**
 * The ADS client. Plaintext: Envoy's own gRPC client on the static `xds-grpc` cluster. Secure:
 * Envoy's Google gRPC client, because only its call credentials can read the token from a file
 * (`envoy.grpc_credentials.file_based_metadata`); `envoy_grpc` sends only inline metadata, and a
 * projected token is a file the kubelet rotates.
 */
function adsClient(discovery: DiscoveryAddress): { grpcService: EnvoyJson; clusters: EnvoyJson[] } {
  if (discovery.secure) {
    const target = discovery.host.includes(":") ? `[${discovery.host}]:${discovery.port}` : `${discovery.host}:${discovery.port}`;
    return {
      grpcService: {
        google_grpc: {
          target_uri: target,
          stat_prefix: "xds-grpc",
          channel_credentials: { ssl_credentials: { root_certs: { filename: caRootPath } } },
          call_credentials: [{
            from_plugin: {
              name: "envoy.grpc_credentials.file_based_metadata",
              typed_config: typed("envoy.config.grpc_credential.v3.FileBasedMetadataConfig", {
                secret_data: { filename: tokenPath },
                header_key: "authorization",
                header_prefix: "Bearer ",
              }),
            },
          }],
          credentials_factory_name: "envoy.grpc_credentials.file_based_metadata",
          // Dialled by IP or another name, the server is verified as (and told) this name.
          channel_args: { args: { "grpc.ssl_target_name_override": { string_value: discovery.secure.serverName }, "grpc.default_authority": { string_value: discovery.secure.serverName } } },
        },
      },
      clusters: [],
    };
  }
  const isIp = /^\d{1,3}(\.\d{1,3}){3}$/.test(discovery.host) || discovery.host.includes(":");
  return {
    // Reconnect within seconds when the operator comes back (Envoy's default backs off to 30 s).
    grpcService: { envoy_grpc: { cluster_name: "xds-grpc", retry_policy: { retry_back_off: { base_interval: "0.5s", max_interval: "4s" } } } },
    clusters: [{
      name: "xds-grpc",
      type: isIp ? "STATIC" : "LOGICAL_DNS",
      connect_timeout: "1s",
      load_assignment: { cluster_name: "xds-grpc", endpoints: [{ lb_endpoints: [{ endpoint: { address: address(discovery.host, discovery.port) } }] }] },
      typed_extension_protocol_options: {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": typed("envoy.extensions.upstreams.http.v3.HttpProtocolOptions", {
          explicit_http_config: { http2_protocol_options: {} },
        }),
      },
    }],
  };
}

/**
 * References to the istio-proxy container's env, expanded by the kubelet (`$(VAR)` in args):
 * the pod's name and IP are unknown when the webhook renders the bootstrap (generateName,
 * no IP yet), so the bootstrap is one string for every pod and the kubelet fills these in.
 */
const fromEnv = (name: string): string => `$(${name})`;

/**
 * The injected proxy's bootstrap when the operator serves ADS: everything but the status
 * listeners comes from the operator (`sidecar` node, Istio's node id
 * `sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`, metadata NAMESPACE and WORKLOAD_NAME: the
 * proxy key `<ns>/<workload>`, src/xds/node.ts). LDS and CDS wait for the first response
 * (`initial_fetch_timeout: 0s`): Envoy stays un-initialised, so `/healthz/ready` fails and the
 * pod is not Ready until its config has arrived — as Istio's sidecar waits for istiod.
 * The ADS connection comes from uid 1337, which istio-init's rules never capture.
 */
export function adsSidecarBootstrap(discovery: DiscoveryAddress): EnvoyJson {
  const client = adsClient(discovery);
  const configSource = { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "0s" };
  return {
    node: {
      id: `sidecar~${fromEnv("INSTANCE_IP")}~${fromEnv("POD_NAME")}.${fromEnv("POD_NAMESPACE")}~${fromEnv("POD_NAMESPACE")}.svc.cluster.local`,
      cluster: `${fromEnv("ISTIO_META_WORKLOAD_NAME")}.${fromEnv("POD_NAMESPACE")}`,
      metadata: {
        NAMESPACE: fromEnv("POD_NAMESPACE"),
        WORKLOAD_NAME: fromEnv("ISTIO_META_WORKLOAD_NAME"),
        INSTANCE_IPS: fromEnv("INSTANCE_IP"),
        SERVICE_ACCOUNT: fromEnv("SERVICE_ACCOUNT"),
        CLUSTER_ID: fromEnv("ISTIO_META_CLUSTER_ID"),
        MESH_ID: fromEnv("ISTIO_META_MESH_ID"),
        INTERCEPTION_MODE: "REDIRECT",
      },
    },
    admin: { address: address("127.0.0.1", adminPort) },
    // Istio's runtime (RE2 program size 32768), as in the gateway bootstraps: the validator
    // accepts regexes up to that size, and without it Envoy would NACK a mesh route config over one.
    layered_runtime: { layers: istioRuntimeLayers() },
    dynamic_resources: {
      ads_config: {
        api_type: "GRPC",
        transport_api_version: "V3",
        grpc_services: [client.grpcService],
        set_node_on_first_message_only: true,
      },
      lds_config: configSource,
      cds_config: configSource,
    },
    static_resources: {
      listeners: statusListeners(),
      clusters: [adminCluster, ...client.clusters],
    },
  };
}
