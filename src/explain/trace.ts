/**
 * `pilotfish explain`: one request traced through compiled Envoy resources, step by step, the
 * way Envoy itself would take it — listener, filter chain, TLS, route configuration, virtual
 * host, each route in order, the action — with a reason for every decision, and for a miss the
 * nearest thing that would have matched. Pure: resources (compiled or read from a config dump)
 * and the request in, an Explanation out.
 */
import type { EnvoyJson, EnvoyResource, EnvoyResources } from "../envoy/resources.js";
import { asBoolean, asNumber, asObject, asObjects, asString, asStrings, at } from "./json.js";
import { matchRoute, pathOnly } from "./matchers.js";
import type { HttpRequestFacts } from "./matchers.js";
import { describeChain, domainMatch, selectFilterChain, selectVirtualHost, splitHostPort } from "./selection.js";

export type Verdict = "route" | "redirect" | "direct_response" | "not_found" | "tls_handshake_refused" | "tcp_proxy" | "no_listener";

export interface ExplainRequest {
  /** Host header; may carry a port ("webapp.example:8080"). */
  host: string;
  path?: string;
  method?: string;
  /** Extra request headers, names in any case. */
  headers?: ReadonlyArray<readonly [string, string]>;
  /** TLS SNI; defaults to the host (without port) for https, as curl does. */
  sni?: string;
  /** The port the client connects to: a Service (Gateway server) port or a listener port. Default 80, or 443 for https. */
  port?: number;
  scheme?: "http" | "https";
  /** The client presents a certificate the listener's CA trusts (mutual TLS). */
  clientCertificate?: boolean;
}

/** A Gateway server as the tracer needs it to name the nearest miss: who serves which hosts on which port. */
export interface GatewayServerHint {
  /** "namespace/name" */
  gateway: string;
  port: number;
  protocol: string;
  /** Host names as written, without the "namespace/" part. */
  hosts: readonly string[];
  /** The compiler's diagnostics about this server (why it was skipped, a missing credential...). */
  problems?: readonly string[];
}

export interface ExplainContext {
  /** The gateway Service's ports: a request to `port` reaches the listener on `targetPort`. */
  servicePorts?: ReadonlyArray<{ port: number; targetPort?: number }>;
  gatewayServers?: readonly GatewayServerHint[];
}

/** The issue's JSON shape: what scripts and tests read. */
export interface Explanation {
  verdict: Verdict;
  status?: number;
  location?: string;
  listener: string;
  filterChain?: string;
  routeConfig?: string;
  virtualHost?: string;
  route?: { index: number; name?: string; match: EnvoyJson };
  clusters?: Array<{ name: string; weight: number }>;
  secret?: string;
  reasons: string[];
}

const HCM_NAME = "envoy.filters.network.http_connection_manager";
const TCP_PROXY_NAME = "envoy.filters.network.tcp_proxy";

function listenerPort(listener: EnvoyJson): number | undefined {
  return asNumber(at(listener, "address", "socket_address", "port_value"));
}

function byResourceName(resources: readonly EnvoyResource[], name: string): EnvoyResource | undefined {
  return resources.find((resource) => resource.name === name);
}

/** Istio's server host match: "*" any, "*.x" a suffix wildcard, otherwise exact (case-insensitive). */
function gatewayHostMatches(pattern: string, host: string): boolean {
  const lower = pattern.toLowerCase();
  if (lower === "*") return true;
  if (lower.startsWith("*.")) return host.endsWith(lower.slice(1)) && host.length > lower.length - 1;
  return lower === host;
}

/** The port a client used and the listener port it reaches. */
function resolveListener(resources: EnvoyResources, request: ExplainRequest, context: ExplainContext): { port: number; listener?: EnvoyResource; reasons: string[] } {
  const scheme = request.scheme ?? "http";
  const port = request.port ?? (scheme === "https" ? 443 : 80);
  const reasons: string[] = [];
  const servicePort = context.servicePorts?.find((entry) => entry.port === port);
  const target = servicePort?.targetPort ?? port;
  if (servicePort && target !== port) reasons.push(`the gateway Service maps port ${port} to targetPort ${target}`);
  const listener = resources.listeners.find((candidate) => listenerPort(candidate) === target);
  if (listener) reasons.push(`listener ${listener.name} listens on port ${target}`);
  return { port: target, listener, reasons };
}

/** "served on port 443 only (Gateway ns/gw)" — the Gateway servers and route configurations that do serve this host. */
function whereHostIsServed(resources: EnvoyResources, host: string, port: number, context: ExplainContext, exceptRouteConfig?: string): string[] {
  const reasons: string[] = [];
  const servers = (context.gatewayServers ?? []).filter((server) => server.hosts.some((pattern) => gatewayHostMatches(pattern, host)));
  const onThisPort = servers.filter((server) => server.port === port);
  if (servers.length > 0 && onThisPort.length === 0) {
    const byGateway = new Map<string, Set<number>>();
    for (const server of servers) byGateway.set(server.gateway, (byGateway.get(server.gateway) ?? new Set()).add(server.port));
    for (const [gateway, ports] of byGateway) {
      const list = [...ports].sort((a, b) => a - b);
      reasons.push(`host ${host}:${port} not served: the Gateway ${gateway} serves it on port ${list.join(", ")} only`);
    }
  } else if (onThisPort.some((server) => (server.problems ?? []).length > 0)) {
    for (const server of onThisPort) {
      for (const problem of server.problems ?? []) reasons.push(`the Gateway ${server.gateway} serves ${host} on port ${port}, but ${problem}`);
    }
  } else if (onThisPort.length > 0) {
    const names = [...new Set(onThisPort.map((server) => server.gateway))].join(", ");
    reasons.push(`the Gateway ${names} serves ${host} on port ${port}, but no VirtualService bound to it routes ${host}: add one with hosts [${host}] and gateways [${names}]`);
  } else if (context.gatewayServers) {
    reasons.push(`no Gateway server lists host ${host}: add it to a Gateway's servers[].hosts and bind a VirtualService to it`);
  }
  if (reasons.length === 0) {
    for (const config of resources.routes) {
      if (config.name === exceptRouteConfig) continue;
      for (const virtualHost of asObjects(config.virtual_hosts)) {
        if (asStrings(virtualHost.domains).some((domain) => domain !== "*" && domainMatch(domain, host))) {
          reasons.push(`host ${host} is served by route configuration ${config.name} (virtual host ${asString(virtualHost.name) ?? "?"}), which another listener uses`);
        }
      }
    }
  }
  return reasons;
}

function tlsContext(chain: EnvoyJson): EnvoyJson | undefined {
  const socket = asObject(chain.transport_socket);
  if (!socket) return undefined;
  const typed = asObject(socket.typed_config);
  const type = asString(typed?.["@type"]) ?? "";
  if (asString(socket.name) === "envoy.transport_sockets.tls" || type.endsWith("DownstreamTlsContext")) return typed ?? {};
  return undefined;
}

function networkFilter(chain: EnvoyJson, name: string, typeSuffix: string): EnvoyJson | undefined {
  for (const filter of asObjects(chain.filters)) {
    const typed = asObject(filter.typed_config);
    if (asString(filter.name) === name || (asString(typed?.["@type"]) ?? "").endsWith(typeSuffix)) return typed ?? {};
  }
  return undefined;
}

/** Weighted or single cluster of a route action or a tcp_proxy. */
function actionClusters(action: EnvoyJson): Array<{ name: string; weight: number }> {
  const single = asString(action.cluster);
  if (single !== undefined) return [{ name: single, weight: 100 }];
  return asObjects(at(action, "weighted_clusters", "clusters")).map((entry) => ({ name: asString(entry.name) ?? "?", weight: asNumber(entry.weight) ?? 0 }));
}

function endpointsOf(resources: EnvoyResources, clusterName: string): string[] | undefined {
  const cluster = byResourceName(resources.clusters, clusterName);
  const assignment =
    resources.endpoints.find((entry) => (asString(entry.cluster_name) ?? entry.name) === (asString(at(cluster, "eds_cluster_config", "service_name")) ?? clusterName)) ??
    asObject(cluster?.load_assignment);
  if (!assignment) return undefined;
  const out: string[] = [];
  for (const locality of asObjects(assignment.endpoints)) {
    for (const lb of asObjects(locality.lb_endpoints)) {
      const address = asObject(at(lb, "endpoint", "address", "socket_address"));
      if (address) out.push(`${asString(address.address) ?? "?"}:${asNumber(address.port_value) ?? "?"}`);
    }
  }
  return out;
}

/** Reasons about each cluster: does Envoy know it, where would the request go. Returns 503 when none can answer. */
function describeClusters(resources: EnvoyResources, clusters: ReadonlyArray<{ name: string; weight: number }>, reasons: string[]): number | undefined {
  const total = clusters.reduce((sum, cluster) => sum + cluster.weight, 0);
  let answerable = 0;
  for (const cluster of clusters) {
    const share = clusters.length > 1 && total > 0 ? ` (weight ${cluster.weight}, ${Math.round((cluster.weight / total) * 1000) / 10}%)` : "";
    if (!byResourceName(resources.clusters, cluster.name)) {
      reasons.push(`cluster ${cluster.name}${share} does not exist: Envoy answers 503 (cluster not found)`);
      continue;
    }
    const endpoints = endpointsOf(resources, cluster.name);
    if (endpoints === undefined) {
      reasons.push(`cluster ${cluster.name}${share}: endpoints not known here`);
      answerable += 1;
    } else if (endpoints.length === 0) {
      reasons.push(`cluster ${cluster.name}${share} has no endpoints: Envoy answers 503 (no healthy upstream)`);
    } else {
      reasons.push(`cluster ${cluster.name}${share} → endpoints ${endpoints.join(", ")}`);
      answerable += 1;
    }
  }
  return answerable === 0 && clusters.length > 0 ? 503 : undefined;
}

function percentOf(fraction: JsonValueLike): number {
  const numerator = asNumber(at(fraction, "numerator")) ?? 0;
  const denominator = asString(at(fraction, "denominator")) ?? "HUNDRED";
  const scale = denominator === "MILLION" ? 10_000 : denominator === "TEN_THOUSAND" ? 100 : 1;
  return numerator / scale;
}
type JsonValueLike = Parameters<typeof at>[0];

/** Timeout, retries, fault, mirrors and rewrites of a route, in words; the fault's status when it always aborts. */
function describeRouteAction(route: EnvoyJson, action: EnvoyJson, reasons: string[]): number | undefined {
  const timeout = asString(action.timeout);
  reasons.push(`timeout ${timeout === undefined ? "15s (Envoy's default)" : timeout === "0s" ? "none (0s)" : timeout}`);
  const retry = asObject(action.retry_policy);
  if (retry) {
    const perTry = asString(retry.per_try_timeout);
    reasons.push(`retries: ${asNumber(retry.num_retries) ?? 1} on ${asString(retry.retry_on) ?? "?"}${perTry ? `, per try ${perTry}` : ""}`);
  }
  for (const mirror of asObjects(action.request_mirror_policies)) {
    const fraction = asObject(mirror.runtime_fraction);
    const share = fraction ? ` (${percentOf(at(fraction, "default_value"))}%)` : "";
    reasons.push(`mirrored to ${asString(mirror.cluster) ?? "?"}${share}`);
  }
  const prefixRewrite = asString(action.prefix_rewrite);
  if (prefixRewrite !== undefined) reasons.push(`path prefix rewritten to ${JSON.stringify(prefixRewrite)}`);
  const regexRewrite = asObject(action.regex_rewrite);
  if (regexRewrite) reasons.push(`path rewritten by regex ${JSON.stringify(asString(at(regexRewrite, "pattern", "regex")))} → ${JSON.stringify(asString(regexRewrite.substitution))}`);
  const hostRewrite = asString(action.host_rewrite_literal);
  if (hostRewrite !== undefined) reasons.push(`Host rewritten to ${hostRewrite}`);
  const fault = asObject(at(route, "typed_per_filter_config", "envoy.filters.http.fault"));
  let status: number | undefined;
  if (fault) {
    const abort = asObject(fault.abort);
    if (abort) {
      const code = asNumber(abort.http_status) ?? asNumber(abort.grpc_status);
      const percent = percentOf(abort.percentage ?? null);
      reasons.push(`fault: abort with ${code ?? "?"} for ${percent}% of requests`);
      if (percent >= 100 && asNumber(abort.http_status) !== undefined) status = asNumber(abort.http_status);
    }
    const delay = asObject(fault.delay);
    if (delay) reasons.push(`fault: delay ${asString(delay.fixed_delay) ?? "?"} for ${percentOf(delay.percentage ?? null)}% of requests`);
  }
  return status;
}

const redirectCodes: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };

/** Envoy's RedirectAction: the Location it sends. */
function redirectLocation(redirect: EnvoyJson, match: EnvoyJson, request: HttpRequestFacts): string {
  const originalScheme = request.scheme;
  const scheme = asBoolean(redirect.https_redirect) === true ? "https" : (asString(redirect.scheme_redirect) ?? originalScheme);
  let authority = asString(redirect.host_redirect) ?? request.authority;
  const { host, port } = splitHostPort(authority);
  const portRedirect = asNumber(redirect.port_redirect);
  if (portRedirect !== undefined) authority = `${host}:${portRedirect}`;
  else if (scheme !== originalScheme && port !== undefined && port === (scheme === "https" ? 443 : 80)) authority = host;
  const queryIndex = request.path.indexOf("?");
  let query = queryIndex < 0 ? "" : request.path.slice(queryIndex);
  let path = pathOnly(request.path);
  const pathRedirect = asString(redirect.path_redirect);
  const prefixRewrite = asString(redirect.prefix_rewrite);
  if (pathRedirect !== undefined) {
    const index = pathRedirect.indexOf("?");
    if (index >= 0) {
      path = pathRedirect.slice(0, index);
      query = pathRedirect.slice(index);
    } else {
      path = pathRedirect;
    }
  } else if (prefixRewrite !== undefined) {
    const prefix = asString(match.prefix) ?? "";
    path = prefixRewrite + path.slice(prefix.length);
  }
  if (asBoolean(redirect.strip_query) === true) query = "";
  return `${scheme}://${authority}${path}${query}`;
}

function describeRoute(route: EnvoyJson, index: number): string {
  const name = asString(route.name);
  const config = asString(at(route, "metadata", "filter_metadata", "istio", "config"));
  const source = config ? ` from ${config.replace(/^\/apis\/networking\.istio\.io\/[^/]+\/namespaces\/([^/]+)\/virtual-service\//, "VirtualService $1/")}` : "";
  return `route #${index}${name ? ` ${name}` : ""}${source}`;
}

export function explainRequest(resources: EnvoyResources, request: ExplainRequest, context: ExplainContext = {}): Explanation {
  const scheme = request.scheme ?? "http";
  const { host: bareHost } = splitHostPort(request.host.toLowerCase());
  const facts: HttpRequestFacts = {
    authority: request.host,
    path: request.path ?? "/",
    method: (request.method ?? "GET").toUpperCase(),
    scheme,
    headers: (request.headers ?? []).map(([name, value]) => [name.toLowerCase(), value] as const),
  };
  const resolved = resolveListener(resources, request, context);
  const reasons = [...resolved.reasons];
  const clientPort = request.port ?? (scheme === "https" ? 443 : 80);
  const listener = resolved.listener;
  if (!listener) {
    const ports = resources.listeners.map(listenerPort).filter((port) => port !== undefined);
    reasons.push(`no listener on port ${resolved.port}: the proxy listens on ${ports.length > 0 ? ports.join(", ") : "no port at all"}; the connection is refused`);
    reasons.push(...whereHostIsServed(resources, bareHost, clientPort, context));
    return { verdict: "no_listener", listener: `0.0.0.0_${resolved.port}`, reasons };
  }
  const explanation: Explanation = { verdict: "not_found", listener: listener.name, reasons };
  const sni = scheme === "https" ? (request.sni ?? bareHost) : undefined;
  const choice = selectFilterChain(listener, {
    port: resolved.port,
    ...(sni !== undefined ? { sni } : {}),
    transportProtocol: scheme === "https" ? "tls" : "raw_buffer",
    applicationProtocols: scheme === "https" ? ["h2", "http/1.1"] : [],
  });
  reasons.push(...choice.reasons);
  if (!choice.chain) {
    // A plaintext client on a TLS-only listener sees what a failed handshake looks like: a closed connection.
    const tlsOnly = asObjects(listener.filter_chains).some((candidate) => tlsContext(candidate) !== undefined || asStrings(at(candidate, "filter_chain_match", "server_names")).length > 0);
    if (scheme !== "https") reasons.push(...whereHostIsServed(resources, bareHost, clientPort, context));
    return { ...explanation, verdict: scheme === "https" || tlsOnly ? "tls_handshake_refused" : "no_listener" };
  }
  const chain = choice.chain;
  explanation.filterChain = describeChain(chain, choice.index);
  const tls = tlsContext(chain);
  const tcpProxy = networkFilter(chain, TCP_PROXY_NAME, "TcpProxy");
  const hcm = networkFilter(chain, HCM_NAME, "HttpConnectionManager");
  if (tls) {
    const secretName = asString(at(asObjects(at(tls, "common_tls_context", "tls_certificate_sds_secret_configs"))[0], "name"));
    if (secretName !== undefined) explanation.secret = secretName;
    if (scheme !== "https") {
      reasons.push("the filter chain terminates TLS but the request is plaintext: the TLS handshake fails and Envoy closes the connection");
      return { ...explanation, verdict: "tls_handshake_refused" };
    }
    if (secretName !== undefined && !byResourceName(resources.secrets, secretName)) {
      reasons.push(`secret ${secretName} is not loaded: Envoy cannot present a certificate and refuses the handshake (is the credential Secret missing or invalid?)`);
      return { ...explanation, verdict: "tls_handshake_refused" };
    }
    reasons.push(`TLS terminated with secret ${secretName ?? "(inline certificate)"}`);
    if (asBoolean(tls.require_client_certificate) === true) {
      if (request.clientCertificate !== true) {
        reasons.push("the filter chain requires a client certificate (mutual TLS) and the request presents none: the handshake is refused (pass --client-cert to trace with one)");
        return { ...explanation, verdict: "tls_handshake_refused" };
      }
      reasons.push("mutual TLS: the client certificate is assumed to verify against the chain's CA");
    }
  } else if (scheme === "https" && !tcpProxy) {
    reasons.push("the filter chain does not terminate TLS: Envoy reads the ClientHello as plaintext HTTP and closes the connection");
    return { ...explanation, verdict: "tls_handshake_refused" };
  }

  if (tcpProxy) {
    const clusters = actionClusters(tcpProxy);
    reasons.push(`tcp_proxy forwards the connection${tls ? " (TLS terminated here)" : scheme === "https" ? " as is (TLS passthrough)" : ""}`);
    describeClusters(resources, clusters, reasons);
    return { ...explanation, verdict: "tcp_proxy", clusters };
  }
  if (!hcm) {
    reasons.push(`the filter chain has neither an HTTP connection manager nor a tcp_proxy (${asObjects(chain.filters).map((f) => asString(f.name) ?? "?").join(", ")})`);
    return { ...explanation, verdict: "no_listener" };
  }

  const routeConfigName = asString(at(hcm, "rds", "route_config_name"));
  const routeConfig = routeConfigName !== undefined ? byResourceName(resources.routes, routeConfigName) : asObject(hcm.route_config);
  if (routeConfigName !== undefined) explanation.routeConfig = routeConfigName;
  if (!routeConfig) {
    reasons.push(`route configuration ${routeConfigName ?? "?"} is not loaded: the listener stays warming and takes no connection`);
    return { ...explanation, verdict: "no_listener" };
  }
  if (routeConfigName === undefined) explanation.routeConfig = asString(routeConfig.name) ?? "(inline)";
  const stripPort =
    asBoolean(routeConfig.ignore_port_in_host_matching) === true ||
    asBoolean(hcm.strip_any_host_port) === true ||
    (asBoolean(hcm.strip_matching_host_port) === true && splitHostPort(request.host).port === resolved.port);
  const hostChoice = selectVirtualHost(routeConfig, request.host, stripPort);
  reasons.push(...hostChoice.reasons);
  const virtualHost = hostChoice.virtualHost;
  if (!virtualHost) {
    reasons.push(...whereHostIsServed(resources, bareHost, clientPort, context, explanation.routeConfig));
    return { ...explanation, status: 404 };
  }
  explanation.virtualHost = asString(virtualHost.name) ?? "<unnamed>";
  const requireTls = asString(virtualHost.require_tls);
  if ((requireTls === "ALL" || requireTls === "EXTERNAL_ONLY") && scheme !== "https") {
    const location = `https://${request.host}${facts.path}`;
    reasons.push(`virtual host requires TLS (require_tls ${requireTls}, the Gateway's httpsRedirect): Envoy redirects to ${location}`);
    return { ...explanation, verdict: "redirect", status: 301, location };
  }
  const routes = asObjects(virtualHost.routes);
  if (routes.length === 0) {
    reasons.push(`virtual host ${explanation.virtualHost} has no routes: Envoy answers 404`);
    reasons.push(...whereHostIsServed(resources, bareHost, clientPort, context, explanation.routeConfig));
    return { ...explanation, status: 404 };
  }
  let nearest: { index: number; failed: string[] } | undefined;
  for (const [index, route] of routes.entries()) {
    const match = asObject(route.match) ?? {};
    const outcome = matchRoute(match, facts);
    const label = describeRoute(route, index);
    if (!outcome.matched) {
      const failed = outcome.checks.filter((check) => !check.ok).map((check) => check.text);
      reasons.push(`${label}: no match (${failed.join("; ")})`);
      if (!nearest || failed.length < nearest.failed.length) nearest = { index, failed };
      continue;
    }
    reasons.push(`${label}: matches (${outcome.checks.map((check) => check.text).join("; ")})`);
    const name = asString(route.name);
    explanation.route = { index, ...(name !== undefined ? { name } : {}), match };
    const redirect = asObject(route.redirect);
    if (redirect) {
      const status = redirectCodes[asString(redirect.response_code) ?? "MOVED_PERMANENTLY"] ?? 301;
      const location = redirectLocation(redirect, match, facts);
      reasons.push(`redirect ${status} to ${location}`);
      return { ...explanation, verdict: "redirect", status, location };
    }
    const direct = asObject(route.direct_response);
    if (direct) {
      const status = asNumber(direct.status) ?? 200;
      const body = asString(at(direct, "body", "inline_string"));
      reasons.push(`direct response ${status}${body !== undefined ? ` with body ${JSON.stringify(body.length > 80 ? `${body.slice(0, 77)}...` : body)}` : ""}`);
      return { ...explanation, verdict: "direct_response", status };
    }
    const action = asObject(route.route);
    if (!action) {
      reasons.push("the route has no action pilotfish explain understands");
      return { ...explanation, verdict: "route" };
    }
    const clusters = actionClusters(action);
    const faultStatus = describeRouteAction(route, action, reasons);
    const unavailable = describeClusters(resources, clusters, reasons);
    const status = faultStatus ?? unavailable;
    return { ...explanation, verdict: "route", ...(status !== undefined ? { status } : {}), clusters };
  }
  if (nearest) reasons.push(`no route matches: Envoy answers 404; nearest miss is ${describeRoute(routes[nearest.index] ?? {}, nearest.index)}, which needs ${nearest.failed.join(" and ")}`);
  return { ...explanation, status: 404 };
}
