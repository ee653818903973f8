/**
 * The bootstrap a gateway pod starts from (`envoy.yaml` in the `-lds` ConfigMap): the file layout's
 * dynamic resources (src/envoy/bootstrap.ts) plus a static readiness listener, so the pod's
 * `readinessProbe: httpGet :15021/healthz/ready` (Istio's port and path) is answered by Envoy
 * itself: the route forwards to the admin's `/ready`, which says LIVE (200) once Envoy has
 * initialised its listeners and clusters, and 503 before that or while draining.
 */
import { dump } from "js-yaml";
import { fileBootstrap } from "../envoy/bootstrap.js";
import { kubeletDataLink } from "../envoy/layout.js";
import type { EnvoyJson } from "../envoy/resources.js";
import { socketAddress } from "../envoy/listener.js";
import { filterName, typeUrl } from "../envoy/types.js";

export interface GatewayBootstrapOptions {
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

export function gatewayBootstrap(options: GatewayBootstrapOptions): EnvoyJson {
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
