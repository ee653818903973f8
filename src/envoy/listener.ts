import type { EnvoyJson, EnvoyResource } from "./resources.js";
import { adsConfigSource, duration, filterName, typeUrl } from "./types.js";

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

/** A file access log (Istio writes `/dev/stdout` this way too) in the given text format. */
export function fileAccessLog(path: string, format: string = istioAccessLogFormat): EnvoyJson {
  return {
    name: filterName.fileAccessLog,
    typed_config: {
      "@type": typeUrl.fileAccessLog,
      path,
      log_format: { text_format_source: { inline_string: format } },
    },
  };
}

export function socketAddress(address: string, port: number): EnvoyJson {
  return { socket_address: { address, port_value: port } };
}

export interface ListenerSettings {
  /** Listener-level access loggers (connections no filter chain takes). */
  accessLog?: EnvoyJson[];
  /** `transport_socket_connect_timeout` set on every filter chain; 0/absent = none. */
  transportSocketConnectTimeoutMs?: number;
}

export function listener(name: string, address: string, port: number, filterChains: EnvoyJson[], settings: ListenerSettings = {}): EnvoyResource {
  const timeout = settings.transportSocketConnectTimeoutMs;
  if (timeout) filterChains = filterChains.map((chain) => ({ ...chain, transport_socket_connect_timeout: duration(timeout) }));
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
  if (settings.accessLog && settings.accessLog.length > 0) result.access_log = settings.accessLog;
  return result;
}

/**
 * The HTTP filters every gateway HCM carries, in istiod's order (fault, CORS, router:
 * pilot/pkg/networking/core/listener_builder.go `buildHTTPConnectionManager`). Fault runs first,
 * so an injected abort answers before CORS sees the request (no CORS headers on it, and a
 * preflight to a faulted route is faulted too).
 */
export function gatewayHttpFilters(): EnvoyJson[] {
  return [
    { name: filterName.fault, typed_config: { "@type": typeUrl.fault } },
    { name: filterName.cors, typed_config: { "@type": typeUrl.cors } },
    { name: filterName.router, typed_config: { "@type": typeUrl.router } },
  ];
}

export interface HttpConnectionManagerSettings {
  accessLog: EnvoyJson[];
  /** 0 = no stream idle timeout. */
  streamIdleTimeoutMs: number;
  proxy100Continue: boolean;
  forwardClientCertDetails: string;
}

/** An HTTP connection manager taking its routes over RDS, as istiod configures gateways. */
export function httpConnectionManager(routeConfigName: string, statPrefix: string, settings: HttpConnectionManagerSettings): EnvoyJson {
  const config: EnvoyJson = {
    "@type": typeUrl.httpConnectionManager,
    stat_prefix: statPrefix,
    rds: { config_source: adsConfigSource(), route_config_name: routeConfigName },
    http_filters: gatewayHttpFilters(),
  };
  if (settings.accessLog.length > 0) config.access_log = settings.accessLog;
  Object.assign(config, {
    // A gateway is the edge: it sets x-forwarded-for and x-envoy-external-address itself.
    use_remote_address: true,
    normalize_path: true,
    path_with_escaped_slashes_action: "KEEP_UNCHANGED",
    upgrade_configs: [{ upgrade_type: "websocket" }],
    server_name: "istio-envoy",
    stream_idle_timeout: duration(settings.streamIdleTimeoutMs),
    proxy_100_continue: settings.proxy100Continue,
    // mTLS clients: the upstream learns who called (subject, certificate, URI and DNS SANs).
    forward_client_cert_details: settings.forwardClientCertDetails,
    set_current_client_cert_details: { subject: true, cert: true, uri: true, dns: true },
  });
  return { name: filterName.httpConnectionManager, typed_config: config };
}

/** A TCP proxy to one cluster or to weighted clusters. */
export function tcpProxy(statPrefix: string, clusters: { name: string; weight: number }[], accessLog: EnvoyJson[] = []): EnvoyJson {
  const config: EnvoyJson = { "@type": typeUrl.tcpProxy, stat_prefix: statPrefix };
  if (accessLog.length > 0) config.access_log = accessLog;
  const first = clusters[0];
  if (clusters.length === 1 && first) config.cluster = first.name;
  else config.weighted_clusters = { clusters: clusters.map((c) => ({ name: c.name, weight: c.weight })) };
  return { name: filterName.tcpProxy, typed_config: config };
}
