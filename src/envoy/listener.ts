import type { EnvoyJson, EnvoyResource } from "./resources.js";
import { adsConfigSource, filterName, typeUrl } from "./types.js";

/**
 * Istio's default access log format (meshConfig.accessLogFormat unset, TEXT encoding), as the
 * seeds show it on the ingress gateway.
 */
export const istioAccessLogFormat =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% " +
  '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% ' +
  "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% " +
  "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

export function stdoutAccessLog(format: string = istioAccessLogFormat): EnvoyJson {
  return {
    name: filterName.stdoutAccessLog,
    typed_config: {
      "@type": typeUrl.stdoutAccessLog,
      log_format: { text_format_source: { inline_string: format } },
    },
  };
}

export function socketAddress(address: string, port: number): EnvoyJson {
  return { socket_address: { address, port_value: port } };
}

export function listener(name: string, address: string, port: number, filterChains: EnvoyJson[]): EnvoyResource {
  const needsTlsInspector = filterChains.some((chain) => {
    const match = chain.filter_chain_match as EnvoyJson | undefined;
    return match !== undefined && (match.server_names !== undefined || match.transport_protocol !== undefined);
  });
  const result: EnvoyResource = {
    "@type": typeUrl.listener,
    name,
    address: socketAddress(address, port),
    filter_chains: filterChains,
    traffic_direction: "OUTBOUND",
  };
  if (needsTlsInspector) {
    result.listener_filters = [{ name: filterName.tlsInspector, typed_config: { "@type": typeUrl.tlsInspector } }];
  }
  return result;
}

/** The HTTP filters every gateway HCM carries, in Istio's order (CORS, fault, router). */
export function gatewayHttpFilters(): EnvoyJson[] {
  return [
    { name: filterName.cors, typed_config: { "@type": typeUrl.cors } },
    { name: filterName.fault, typed_config: { "@type": typeUrl.fault } },
    { name: filterName.router, typed_config: { "@type": typeUrl.router } },
  ];
}

/** An HTTP connection manager taking its routes over RDS, as Istio configures gateways. */
export function httpConnectionManager(routeConfigName: string, statPrefix: string): EnvoyJson {
  return {
    name: filterName.httpConnectionManager,
    typed_config: {
      "@type": typeUrl.httpConnectionManager,
      stat_prefix: statPrefix,
      rds: { config_source: adsConfigSource(), route_config_name: routeConfigName },
      http_filters: gatewayHttpFilters(),
      access_log: [stdoutAccessLog()],
      // A gateway is the edge: it sets x-forwarded-for and x-envoy-external-address itself.
      use_remote_address: true,
      normalize_path: true,
      path_with_escaped_slashes_action: "KEEP_UNCHANGED",
      upgrade_configs: [{ upgrade_type: "websocket" }],
      server_name: "istio-envoy",
    },
  };
}

/** A TCP proxy to one cluster or to weighted clusters. */
export function tcpProxy(statPrefix: string, clusters: { name: string; weight: number }[]): EnvoyJson {
  const config: EnvoyJson = { "@type": typeUrl.tcpProxy, stat_prefix: statPrefix, access_log: [stdoutAccessLog()] };
  const first = clusters[0];
  if (clusters.length === 1 && first) config.cluster = first.name;
  else config.weighted_clusters = { clusters: clusters.map((c) => ({ name: c.name, weight: c.weight })) };
  return { name: filterName.tcpProxy, typed_config: config };
}
