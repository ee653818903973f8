/**
 * An Envoy bootstrap that takes everything over ADS from pilotfish: a static `xds-grpc` cluster
 * (HTTP/2) to the server, `ads_config` (SotW `GRPC` or `DELTA_GRPC`), LDS and CDS over ADS (the
 * compiled resources name RDS, EDS and SDS with `ads: {}` themselves). The node follows Istio's
 * conventions so the server can tell which gateway it is (node.ts). With `tls`, the stream is TLS
 * verified against the operator's CA for the server name (pilotfish.<namespace>.svc); with
 * `token`, it carries `authorization: Bearer <token>` (a bootstrap holds the token inline: Envoy
 * reads no file for gRPC metadata, so a token that expires needs the agent or a new bootstrap).
 */
import { istioRuntimeLayers } from "../envoy/bootstrap.js";
import type { EnvoyJson } from "../envoy/resources.js";

export interface AdsBootstrapOptions {
  /** The ADS server, host and port. */
  xdsHost: string;
  xdsPort: number;
  apiType?: "GRPC" | "DELTA_GRPC";
  adminPort: number;
  /** Gateway Deployment namespace and name (the proxy key). */
  namespace: string;
  workloadName: string;
  podName?: string;
  podIp?: string;
  labels?: Record<string, string>;
  /** Verify the server's certificate: its CA (PEM) and the name to expect (SNI and SAN). */
  tls?: { caPem: string; serverName: string };
  /** A ServiceAccount token (audience pilotfish), sent as `authorization: Bearer` on the stream. */
  token?: string;
}

export function adsBootstrap(options: AdsBootstrapOptions): EnvoyJson {
  const pod = options.podName ?? options.workloadName;
  return {
    node: {
      id: `router~${options.podIp ?? "127.0.0.1"}~${pod}.${options.namespace}~${options.namespace}.svc.cluster.local`,
      cluster: options.workloadName,
      metadata: { NAMESPACE: options.namespace, WORKLOAD_NAME: options.workloadName, LABELS: options.labels ?? {} },
    },
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: options.adminPort } } },
    // Istio's runtime (RE2 program size 32768), as in the file bootstraps: the validator accepts
    // regexes up to that size, and without it Envoy NACKs a whole RDS for one `a{1000}`.
    layered_runtime: { layers: istioRuntimeLayers() },
    dynamic_resources: {
      ads_config: {
        api_type: options.apiType ?? "GRPC",
        transport_api_version: "V3",
        grpc_services: [
          {
            envoy_grpc: { cluster_name: "xds-grpc" },
            ...(options.token ? { initial_metadata: [{ key: "authorization", value: `Bearer ${options.token}` }] } : {}),
          },
        ],
        set_node_on_first_message_only: true,
      },
      lds_config: { ads: {}, resource_api_version: "V3" },
      cds_config: { ads: {}, resource_api_version: "V3" },
    },
    static_resources: {
      clusters: [
        {
          name: "xds-grpc",
          type: "STATIC",
          connect_timeout: "1s",
          load_assignment: {
            cluster_name: "xds-grpc",
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: options.xdsHost, port_value: options.xdsPort } } } }] }],
          },
          ...(options.tls
            ? {
                transport_socket: {
                  name: "envoy.transport_sockets.tls",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                    sni: options.tls.serverName,
                    common_tls_context: {
                      alpn_protocols: ["h2"],
                      validation_context: {
                        trusted_ca: { inline_string: options.tls.caPem },
                        match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: options.tls.serverName } }],
                      },
                    },
                  },
                },
              }
            : {}),
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        },
      ],
    },
  };
}
