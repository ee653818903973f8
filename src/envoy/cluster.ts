import type { EnvoyJson, EnvoyResource } from "./resources.js";
import { adsConfigSource, duration, typeUrl } from "./types.js";

/** Istio opens the circuit breakers wide: limits come from DestinationRules, not Envoy defaults. */
const unlimited = 4294967295;

export interface ClusterDefaults {
  connectTimeoutMs: number;
  lbPolicy: string;
  /** `common_lb_config.healthy_panic_threshold` in percent (0 = panic mode off). */
  healthyPanicThresholdPercent: number;
}

/** A cluster whose endpoints arrive over EDS under the cluster's own name. */
export function edsCluster(name: string, defaults: ClusterDefaults): EnvoyResource {
  const panic = defaults.healthyPanicThresholdPercent;
  return {
    "@type": typeUrl.cluster,
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: adsConfigSource(), service_name: name },
    connect_timeout: duration(defaults.connectTimeoutMs),
    lb_policy: defaults.lbPolicy,
    // Percent{value: 0} is `{}` in proto JSON.
    common_lb_config: { healthy_panic_threshold: panic === 0 ? {} : { value: panic } },
    circuit_breakers: {
      thresholds: [
        { max_connections: unlimited, max_pending_requests: unlimited, max_requests: unlimited, max_retries: unlimited },
      ],
    },
  };
}

export interface LbEndpoint {
  address: string;
  port: number;
}

/**
 * The endpoints of a cluster. `name` duplicates `cluster_name` so every resource is keyed alike;
 * envoyJson() removes it before Envoy sees the message.
 */
export function clusterLoadAssignment(clusterName: string, endpoints: LbEndpoint[]): EnvoyResource {
  const lbEndpoints: EnvoyJson[] = endpoints.map((endpoint) => ({
    endpoint: { address: { socket_address: { address: endpoint.address, port_value: endpoint.port } } },
    health_status: "HEALTHY",
  }));
  return {
    "@type": typeUrl.clusterLoadAssignment,
    name: clusterName,
    cluster_name: clusterName,
    endpoints: lbEndpoints.length > 0 ? [{ lb_endpoints: lbEndpoints }] : [],
  };
}

/** The resource as Envoy parses it (without the compiler's bookkeeping `name` on endpoints). */
export function envoyJson(resource: EnvoyResource): EnvoyJson {
  if (resource["@type"] !== typeUrl.clusterLoadAssignment) return resource;
  const { name: _name, ...rest } = resource;
  return rest;
}
