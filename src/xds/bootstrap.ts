/**
 * An Envoy bootstrap that takes everything over ADS from pilotfish: a static `xds-grpc` cluster
 * (HTTP/2) to the server, `ads_config` (SotW `GRPC` or `DELTA_GRPC`), LDS and CDS over ADS (the
 * compiled resources name RDS, EDS and SDS with `ads: {}` themselves). The node follows Istio's
 * conventions so the server can tell which gateway it is (node.ts).
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
        grpc_services: [{ envoy_grpc: { cluster_name: "xds-grpc" } }],
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
