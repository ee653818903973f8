/**
 * One VirtualService `http` rule → Envoy routes (one per match, in order). Pure; destinations are
 * named through the caller so cluster creation stays in one place.
 */
import type { CompileOptions, Diagnostic } from "./output.js";
import type { EnvoyJson, JsonValue } from "../envoy/resources.js";
import type {
  CorsPolicy,
  Destination,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRetry,
  HTTPRoute,
  HeaderOperations,
  StringMatch,
  VirtualService,
} from "../model/istio.js";
import { parseDuration } from "../model/istio.js";
import type { ClusterRef, ClusterResolution } from "./filter-chains/types.js";
import { headerMatcher } from "../envoy/route.js";
import type { StringMatcher } from "../envoy/route.js";
import { duration, filterName, fractionalPercent, typeUrl } from "../envoy/types.js";
import { namespaceOf } from "./binding.js";
import { meshConfig } from "./mesh.js";

export interface HttpRouteContext {
  virtualService: VirtualService;
  /** Field of this rule, e.g. `spec.http[2]`. */
  field: string;
  /** The Gateway server's port number (matches with another `port` are not for this server). */
  serverPort: number;
  /** `namespace/name` of the Gateway being compiled (for `match.gateways`). */
  gatewayKey: string;
  /** Whether the server has `tls` (istiod's default redirect scheme when a port is set: https). */
  serverIsTls?: boolean;
  /** The gateway proxy's labels and namespace (`match.sourceLabels` / `sourceNamespace`). */
  proxyLabels?: Readonly<Record<string, string>>;
  proxyNamespace?: string;
  options: CompileOptions;
  resolve(destination: Destination, field: string): ClusterResolution;
  /** Envoy `hash_policy` for routes to a cluster whose DestinationRule hashes consistently. */
  hashPolicyFor?(cluster: ClusterRef): EnvoyJson[];
}

export interface TranslatedRoutes {
  routes: EnvoyJson[];
  clusterRefs: ClusterRef[];
  diagnostics: Diagnostic[];
}

const defaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

function stringMatcher(match: StringMatch): StringMatcher {
  if (match.exact !== undefined) return { exact: match.exact };
  if (match.prefix !== undefined) return { prefix: match.prefix };
  if (match.regex !== undefined) return { safe_regex: { regex: match.regex } };
  return { present: true };
}

function durationMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const parsed = parseDuration(text);
  return "ms" in parsed ? parsed.ms : undefined;
}

/** Header names Istio routes on JWT claims: `@request.auth.claims.a.b` or `@request.auth.claims[a][b]`. */
const jwtClaimPrefix = "@request.auth.claims";

export function jwtClaimPath(headerName: string): string[] | undefined {
  if (!headerName.toLowerCase().startsWith(jwtClaimPrefix)) return undefined;
  const rest = headerName.slice(jwtClaimPrefix.length);
  if (rest.startsWith(".") && rest.length > 1) return rest.slice(1).split(".");
  if (rest.startsWith("[") && rest.endsWith("]") && rest.length > 2) return rest.slice(1, -1).split("][");
  return undefined;
}

/**
 * istiod's JWT claim routing (pilot/pkg/security/authz/model `MetadataMatcherForJWTClaims`): a
 * dynamic-metadata matcher on the jwt_authn filter's `payload`, matching the claim itself or any
 * element of a list claim. It only matches once a RequestAuthentication puts the filter in place.
 */
function jwtClaimMatcher(claims: string[], match: StringMatch, invert: boolean): EnvoyJson {
  const matcher = stringMatcher(match);
  const value: EnvoyJson = "present" in matcher ? { present_match: true } : { string_match: matcher };
  const result: EnvoyJson = {
    filter: "envoy.filters.http.jwt_authn",
    path: ["payload", ...claims].map((key) => ({ key })),
    value: { or_match: { value_matchers: [{ list_match: { one_of: value } }, value] } },
  };
  if (invert) result.invert = true;
  return result;
}

function routeMatch(match: HTTPMatchRequest | undefined): EnvoyJson {
  const result: EnvoyJson = {};
  const uri = match?.uri;
  if (uri?.exact !== undefined) result.path = uri.exact;
  else if (uri?.regex !== undefined) result.safe_regex = { regex: uri.regex };
  else result.prefix = uri?.prefix ?? "/";
  if (match?.ignoreUriCase) result.case_sensitive = false;

  const headers: EnvoyJson[] = [];
  const metadata: EnvoyJson[] = [];
  for (const [name, value] of Object.entries(match?.headers ?? {}).sort()) {
    const claims = jwtClaimPath(name);
    if (claims) metadata.push(jwtClaimMatcher(claims, value, false));
    else headers.push(headerMatcher(name.toLowerCase(), stringMatcher(value)));
  }
  for (const [name, value] of Object.entries(match?.withoutHeaders ?? {}).sort()) {
    const claims = jwtClaimPath(name);
    if (claims) metadata.push(jwtClaimMatcher(claims, value, true));
    else {
      const matcher = headerMatcher(name.toLowerCase(), stringMatcher(value), true);
      // istiod (route.go TranslateRouteMatch): an absent header counts as empty, so it does not
      // match the excluded value and the request is not excluded (istio#49537).
      if (!("present_match" in matcher)) matcher.treat_missing_header_as_empty = true;
      headers.push(matcher);
    }
  }
  if (match?.method) headers.push(headerMatcher(":method", stringMatcher(match.method)));
  if (match?.authority) headers.push(headerMatcher(":authority", stringMatcher(match.authority)));
  if (match?.scheme) headers.push(headerMatcher(":scheme", stringMatcher(match.scheme)));
  if (headers.length > 0) result.headers = headers;
  if (metadata.length > 0) result.dynamic_metadata = metadata;

  const query = Object.entries(match?.queryParams ?? {}).sort();
  if (query.length > 0) {
    result.query_parameters = query.map(([name, value]): EnvoyJson => {
      const matcher = stringMatcher(value);
      return "present" in matcher ? { name, present_match: true } : { name, string_match: matcher };
    });
  }
  return result;
}

/**
 * istiod (route.go `isInternalHeader`): Envoy refuses to modify `host` and `:`-prefixed headers
 * ("':-prefixed or host headers may not be modified"), so they are left out of every operation.
 */
function isInternalHeader(name: string): boolean {
  return name.startsWith(":") || name.toLowerCase() === "host";
}

/** istiod (route.go `isAuthorityHeader`): a request `set`/`add` of these is the host rewrite. */
function isAuthorityHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === ":authority" || lower === "host";
}

interface HeaderOptions {
  add: EnvoyJson[];
  remove: string[];
  /** Names left out because Envoy refuses to modify them (with the operation that named them). */
  dropped: { op: "set" | "add" | "remove"; name: string }[];
  /** A request `set` (else `add`) of `host`/`:authority`: istiod's host rewrite. */
  authority?: string;
}

function headerValueOptions(ops: HeaderOperations | undefined): HeaderOptions {
  const out: HeaderOptions = { add: [], remove: [], dropped: [] };
  let setAuthority: string | undefined;
  let addAuthority: string | undefined;
  for (const [key, value] of Object.entries(ops?.set ?? {}).sort()) {
    if (isAuthorityHeader(key)) setAuthority = value;
    if (isInternalHeader(key)) out.dropped.push({ op: "set", name: key });
    else out.add.push({ header: { key, value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" });
  }
  for (const [key, value] of Object.entries(ops?.add ?? {}).sort()) {
    if (isAuthorityHeader(key)) addAuthority = value;
    if (isInternalHeader(key)) out.dropped.push({ op: "add", name: key });
    else out.add.push({ header: { key, value }, append_action: "APPEND_IF_EXISTS_OR_ADD" });
  }
  for (const name of ops?.remove ?? []) {
    if (isInternalHeader(name)) out.dropped.push({ op: "remove", name });
    else out.remove.push(name);
  }
  // istiod (TranslateHeadersOperations): `set` wins over `add`.
  const authority = setAuthority ?? addAuthority;
  if (authority !== undefined && authority !== "") out.authority = authority;
  return out;
}

/**
 * Adds the header operations to a route or weighted cluster; returns the request authority
 * (`host`/`:authority` in request set/add) for the caller to turn into a host rewrite, like
 * istiod. Headers Envoy refuses to modify are reported on `field` (`…headers`).
 */
function applyHeaders(
  target: EnvoyJson,
  request: HeaderOperations | undefined,
  response: HeaderOperations | undefined,
  report?: { ctx: HttpRouteContext; out: TranslatedRoutes; field: string; forwards: boolean },
): string | undefined {
  const req = headerValueOptions(request);
  const resp = headerValueOptions(response);
  if (req.add.length > 0) target.request_headers_to_add = [...((target.request_headers_to_add as JsonValue[] | undefined) ?? []), ...req.add];
  if (req.remove.length > 0) target.request_headers_to_remove = [...((target.request_headers_to_remove as JsonValue[] | undefined) ?? []), ...req.remove];
  if (resp.add.length > 0) target.response_headers_to_add = [...((target.response_headers_to_add as JsonValue[] | undefined) ?? []), ...resp.add];
  if (resp.remove.length > 0) target.response_headers_to_remove = [...((target.response_headers_to_remove as JsonValue[] | undefined) ?? []), ...resp.remove];
  if (report) {
    const { ctx, out, field, forwards } = report;
    for (const { op, name } of req.dropped) {
      const where = `${field}.request.${op}.${name}`;
      if (op !== "remove" && isAuthorityHeader(name)) {
        const message = forwards
          ? `Envoy cannot modify the ${name} header; compiled as the route's host rewrite like istiod (use rewrite.authority)`
          : `Envoy cannot modify the ${name} header and this rule does not forward the request; ignored (use rewrite.authority on a route)`;
        out.diagnostics.push(diag(ctx, where, "warning", message));
      } else {
        out.diagnostics.push(diag(ctx, where, "warning", `Envoy cannot modify the ${name} header; ignored like istiod (remove it from ${op})`));
      }
    }
    for (const { op, name } of resp.dropped) {
      out.diagnostics.push(diag(ctx, `${field}.response.${op}.${name}`, "warning", `Envoy cannot modify the ${name} header; ignored like istiod (remove it from ${op})`));
    }
  }
  return req.authority;
}

/** Istio's retry policy: its default when unset, none for `attempts: 0`. */
export function retryPolicy(retries: HTTPRetry | undefined, options: CompileOptions): EnvoyJson | undefined {
  if (retries?.attempts === 0) return undefined;
  const policy: EnvoyJson = {};
  const statusCodes: number[] = [];
  const on: string[] = [];
  if (retries?.retryOn) {
    for (const item of retries.retryOn.split(",").map((s) => s.trim()).filter(Boolean)) {
      if (/^\d+$/.test(item)) statusCodes.push(Number(item));
      else on.push(item);
    }
    if (statusCodes.length > 0 && !on.includes("retriable-status-codes")) on.push("retriable-status-codes");
  } else {
    on.push(defaultRetryOn);
    if (meshConfig(options).defaultRetryOn503) statusCodes.push(503);
  }
  policy.retry_on = on.join(",");
  policy.num_retries = retries?.attempts ?? 2;
  if (statusCodes.length > 0) policy.retriable_status_codes = statusCodes;
  const perTry = durationMs(retries?.perTryTimeout);
  if (perTry !== undefined) policy.per_try_timeout = duration(perTry);
  // istiod (core/route/retry ConvertPolicy): previous_hosts unless retryIgnorePreviousHosts is false.
  if (retries?.retryIgnorePreviousHosts !== false) {
    policy.retry_host_predicate = [
      { name: "envoy.retry_host_predicates.previous_hosts", typed_config: { "@type": typeUrl.previousHostsPredicate } },
    ];
  }
  policy.host_selection_retry_max_attempts = "5";
  if (retries?.retryRemoteLocalities === true) {
    policy.retry_priority = {
      name: "envoy.retry_priorities.previous_priorities",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig", update_frequency: 2 },
    };
  }
  const backoff = durationMs(retries?.backoff);
  if (backoff !== undefined) policy.retry_back_off = { base_interval: duration(backoff) };
  return policy;
}

/** gRPC status names as Istio accepts them for `fault.abort.grpcStatus`, with their codes. */
const grpcStatusCodes: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

/** Envoy's range for `abort.http_status` and `direct_response.status`: [200, 600). */
export function envoyAcceptsStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 200 && status < 600;
}

function faultConfig(fault: HTTPFaultInjection, ctx: HttpRouteContext, out: TranslatedRoutes): EnvoyJson | undefined {
  const config: EnvoyJson = { "@type": typeUrl.fault };
  const delayMs = durationMs(fault.delay?.fixedDelay);
  if (fault.delay && delayMs !== undefined) {
    const percent = fault.delay.percentage?.value ?? fault.delay.percent ?? 100;
    config.delay = { fixed_delay: duration(delayMs), percentage: fractionalPercent(percent) };
  }
  if (fault.abort?.httpStatus !== undefined && !envoyAcceptsStatus(fault.abort.httpStatus)) {
    // Istio accepts up to 600 and istiod passes it on; Envoy rejects the whole route config.
    out.diagnostics.push(
      diag(ctx, `${ctx.field}.fault.abort.httpStatus`, "error", `Envoy cannot abort with HTTP status ${fault.abort.httpStatus} (200..599); abort dropped: use a status from 200 to 599`),
    );
  } else if (fault.abort?.httpStatus !== undefined) {
    config.abort = { http_status: fault.abort.httpStatus, percentage: fractionalPercent(fault.abort.percentage?.value ?? 100) };
  } else if (fault.abort?.grpcStatus !== undefined && grpcStatusCodes[fault.abort.grpcStatus.toUpperCase()] !== undefined) {
    config.abort = { grpc_status: grpcStatusCodes[fault.abort.grpcStatus.toUpperCase()] ?? 2, percentage: fractionalPercent(fault.abort.percentage?.value ?? 100) };
  }
  return config.delay || config.abort ? config : undefined;
}

function corsConfig(cors: CorsPolicy): EnvoyJson {
  const origins: JsonValue[] = [];
  for (const origin of cors.allowOrigins ?? []) {
    const matcher = stringMatcher(origin);
    if (!("present" in matcher)) origins.push(matcher);
  }
  for (const origin of cors.allowOrigin ?? []) origins.push({ exact: origin });
  const config: EnvoyJson = { "@type": typeUrl.corsPolicy, allow_origin_string_match: origins };
  if (cors.allowMethods?.length) config.allow_methods = cors.allowMethods.join(",");
  if (cors.allowHeaders?.length) config.allow_headers = cors.allowHeaders.join(",");
  if (cors.exposeHeaders?.length) config.expose_headers = cors.exposeHeaders.join(",");
  const maxAge = durationMs(cors.maxAge);
  if (maxAge !== undefined) config.max_age = String(Math.floor(maxAge / 1000));
  if (cors.allowCredentials !== undefined) config.allow_credentials = cors.allowCredentials;
  // istiod: preflights that match no policy are forwarded unless unmatchedPreflights is IGNORE.
  config.forward_not_matching_preflights = cors.unmatchedPreflights !== "IGNORE";
  return config;
}

const redirectCodes: Record<number, string> = {
  301: "MOVED_PERMANENTLY",
  302: "FOUND",
  303: "SEE_OTHER",
  307: "TEMPORARY_REDIRECT",
  308: "PERMANENT_REDIRECT",
};

/** Does this rule apply to the server being compiled (match.port / match.gateways)? */
function matchApplies(match: HTTPMatchRequest, ctx: HttpRouteContext): boolean {
  if (match.port !== undefined && match.port !== ctx.serverPort) return false;
  if (match.gateways && match.gateways.length > 0) {
    const ns = namespaceOf(ctx.virtualService);
    const keys = match.gateways.map((ref) => (ref.startsWith("./") ? `${ns}/${ref.slice(2)}` : ref.includes("/") ? ref : `${ns}/${ref}`));
    if (!keys.includes(ctx.gatewayKey)) return false;
  } else {
    // istiod (route.go sourceMatchHTTP): without `gateways`, sourceLabels must be labels of the
    // proxy (here the gateway's pods) and sourceNamespace its namespace.
    const labels = ctx.proxyLabels ?? {};
    if (Object.entries(match.sourceLabels ?? {}).some(([key, value]) => labels[key] !== value)) return false;
    if (match.sourceNamespace && match.sourceNamespace !== ctx.proxyNamespace) return false;
  }
  return true;
}

export function translateHttpRoute(rule: HTTPRoute, ctx: HttpRouteContext): TranslatedRoutes {
  const out: TranslatedRoutes = { routes: [], clusterRefs: [], diagnostics: [] };
  const matches: (HTTPMatchRequest | undefined)[] = rule.match && rule.match.length > 0 ? rule.match.filter((m) => matchApplies(m, ctx)) : [undefined];
  if (matches.length === 0) return out;

  const action = routeAction(rule, ctx, out);
  for (const match of matches) {
    const route: EnvoyJson = { match: routeMatch(match) };
    const name = match?.name ? (rule.name ? `${rule.name}.${match.name}` : match.name) : rule.name;
    if (name) route.name = name;
    if (match?.statPrefix) route.stat_prefix = match.statPrefix;
    Object.assign(route, structuredClone(action));
    route.metadata = {
      filter_metadata: {
        istio: { config: `/apis/networking.istio.io/v1/namespaces/${namespaceOf(ctx.virtualService)}/virtual-service/${ctx.virtualService.metadata.name}` },
      },
    };
    out.routes.push(route);
  }
  return out;
}

/** The part of the Envoy route shared by every match of the rule. */
function routeAction(rule: HTTPRoute, ctx: HttpRouteContext, out: TranslatedRoutes): EnvoyJson {
  const result: EnvoyJson = {};
  if (rule.redirect) {
    const redirect: EnvoyJson = {};
    // istiod (route.go ApplyRedirect): prefixRewrite wins over uri.
    if (rule.redirect.prefixRewrite) redirect.prefix_rewrite = rule.redirect.prefixRewrite;
    else if (rule.redirect.uri) redirect.path_redirect = rule.redirect.uri;
    if (rule.redirect.authority) redirect.host_redirect = rule.redirect.authority;
    if (rule.redirect.scheme) redirect.scheme_redirect = rule.redirect.scheme;
    if (rule.redirect.port !== undefined || rule.redirect.derivePort !== undefined) {
      // FROM_REQUEST_PORT: routes are built per server port, so that port is the request's.
      let port = rule.redirect.port ?? (rule.redirect.derivePort === "FROM_REQUEST_PORT" ? ctx.serverPort : 0);
      const scheme = rule.redirect.scheme || (ctx.serverIsTls ? "https" : "http");
      if ((port === 80 && scheme === "http") || (port === 443 && scheme === "https")) port = 0;
      if (port) redirect.port_redirect = port;
    }
    // istiod (ApplyRedirect): 0 means unset, i.e. 301.
    const code = rule.redirect.redirectCode || 301;
    const responseCode = redirectCodes[code];
    if (responseCode) redirect.response_code = responseCode;
    else out.diagnostics.push(diag(ctx, `${ctx.field}.redirect.redirectCode`, "warning", `redirect code ${code} is not supported by Envoy; using 301`));
    result.redirect = redirect;
  } else if (rule.directResponse) {
    const body = rule.directResponse.body;
    let status = rule.directResponse.status;
    if (!envoyAcceptsStatus(status)) {
      // Istio accepts up to 600 and istiod passes it on; Envoy rejects the whole route config.
      out.diagnostics.push(
        diag(ctx, `${ctx.field}.directResponse.status`, "error", `Envoy cannot answer with HTTP status ${status} (200..599); answering 500: use a status from 200 to 599`),
      );
      status = 500;
    }
    const direct: EnvoyJson = { status };
    if (body?.string !== undefined) direct.body = { inline_string: body.string };
    else if (body?.bytes !== undefined) direct.body = { inline_bytes: body.bytes };
    result.direct_response = direct;
  } else if (rule.route && rule.route.length > 0) {
    // istiod: the rule's header operations first, a single destination's after them (on the
    // same header the destination's wins).
    const authority = applyHeaders(result, rule.headers?.request, rule.headers?.response, { ctx, out, field: `${ctx.field}.headers`, forwards: true });
    result.route = forwardAction(rule, ctx, out, result, authority);
  } else {
    out.diagnostics.push(diag(ctx, ctx.field, "error", "http rule has no route, redirect or directResponse; answering 500"));
    result.direct_response = { status: 500 };
  }

  // istiod applies a host header only to a forwarding route (applyHTTPRouteDestination).
  if (!result.route) applyHeaders(result, rule.headers?.request, rule.headers?.response, { ctx, out, field: `${ctx.field}.headers`, forwards: false });

  const perFilter: EnvoyJson = {};
  if (rule.fault) {
    const fault = faultConfig(rule.fault, ctx, out);
    if (fault) perFilter[filterName.fault] = fault;
  }
  if (rule.corsPolicy) perFilter[filterName.cors] = corsConfig(rule.corsPolicy);
  if (Object.keys(perFilter).length > 0) result.typed_per_filter_config = perFilter;
  return result;
}

function forwardAction(rule: HTTPRoute, ctx: HttpRouteContext, out: TranslatedRoutes, routeLevel: EnvoyJson, ruleAuthority: string | undefined): EnvoyJson {
  const action: EnvoyJson = {};
  const weighted: EnvoyJson[] = [];
  const weightedRefs: ClusterRef[] = [];
  const destinationAuthority = new Map<EnvoyJson, string>();
  (rule.route ?? []).forEach((target, index) => {
    const field = `${ctx.field}.route[${index}].destination`;
    const resolution = ctx.resolve(target.destination, field);
    if ("diagnostic" in resolution) {
      out.diagnostics.push(resolution.diagnostic);
      return;
    }
    const weight = target.weight ?? (rule.route?.length === 1 ? 100 : 0);
    // A zero-weight destination among others gets no traffic, so no cluster either.
    if ((rule.route?.length ?? 0) > 1 && weight === 0) return;
    out.clusterRefs.push(resolution.cluster);
    const entry: EnvoyJson = { name: resolution.cluster.name, weight };
    const authority = applyHeaders(entry, target.headers?.request, target.headers?.response, { ctx, out, field: `${ctx.field}.route[${index}].headers`, forwards: true });
    weighted.push(entry);
    if (authority !== undefined) destinationAuthority.set(entry, authority);
    weightedRefs.push(resolution.cluster);
  });
  const only = weighted[0];
  if (weighted.length === 0) {
    // Nothing routable: answer like Envoy does for a missing cluster, but say why.
    action.cluster = "pilotfish-unresolved-destination";
  } else if (weighted.length === 1 && only) {
    action.cluster = only.name as string;
    // Destination-level header operations apply to the route when there is one destination.
    for (const key of ["request_headers_to_add", "request_headers_to_remove", "response_headers_to_add", "response_headers_to_remove"]) {
      const value = only[key];
      if (Array.isArray(value)) routeLevel[key] = [...((routeLevel[key] as JsonValue[] | undefined) ?? []), ...value];
    }
  } else {
    // istiod (processWeightedDestination): a destination's host header rewrites per cluster.
    for (const [entry, authority] of destinationAuthority) entry.host_rewrite_literal = authority;
    action.weighted_clusters = { clusters: weighted };
  }

  const timeoutMs = durationMs(rule.timeout);
  if (rule.timeout !== undefined && timeoutMs === undefined) {
    out.diagnostics.push(diag(ctx, `${ctx.field}.timeout`, "warning", `invalid timeout ${JSON.stringify(rule.timeout)}; no timeout set`));
  }
  action.timeout = duration(timeoutMs ?? 0);
  // istiod sets max_grpc_timeout to the route timeout: a gRPC client's grpc-timeout header
  // applies, capped by the route timeout (0 = uncapped). The field is deprecated in Envoy, but its
  // replacement (max_stream_duration.grpc_timeout_header_max) switches Envoy's router to its "new
  // timeouts" mode, which ignores the route `timeout` entirely (L12's 1 s timeout stops firing).
  if (meshConfig(ctx.options).honorGrpcTimeoutHeader) action.max_grpc_timeout = duration(timeoutMs ?? 0);
  // Like Istio, only a single-destination route hashes; retrying on another host would break
  // the stickiness, so the previous_hosts predicate goes.
  const onlyRef = weightedRefs.length === 1 ? weightedRefs[0] : undefined;
  const hashPolicy = onlyRef ? (ctx.hashPolicyFor?.(onlyRef) ?? []) : [];
  if (hashPolicy.length > 0) action.hash_policy = hashPolicy;
  const retry = retryPolicy(rule.retries, ctx.options);
  if (retry && hashPolicy.length > 0) delete retry.retry_host_predicate;
  if (retry) action.retry_policy = retry;

  if (rule.rewrite?.uri !== undefined) {
    action.prefix_rewrite = rule.rewrite.uri;
  } else if (rule.rewrite?.uriRegexRewrite?.match !== undefined) {
    action.regex_rewrite = { pattern: { regex: rule.rewrite.uriRegexRewrite.match }, substitution: rule.rewrite.uriRegexRewrite.rewrite ?? "" };
  }
  // istiod (applyHTTPRouteDestination): rewrite.authority, else the rule's host header, else a
  // single destination's host header (processDestination) is the route's host rewrite.
  const onlyAuthority = weighted.length === 1 && only ? destinationAuthority.get(only) : undefined;
  const authority = rule.rewrite?.authority || ruleAuthority || onlyAuthority;
  if (authority) action.host_rewrite_literal = authority;

  const mirrors: EnvoyJson[] = [];
  const addMirror = (destination: Destination, percent: number | undefined, field: string) => {
    const resolution = ctx.resolve(destination, field);
    if ("diagnostic" in resolution) {
      out.diagnostics.push(resolution.diagnostic);
      return;
    }
    out.clusterRefs.push(resolution.cluster);
    const policy: EnvoyJson = { cluster: resolution.cluster.name, runtime_fraction: { default_value: fractionalPercent(percent ?? 100) }, trace_sampled: false };
    // istiod (DISABLE_SHADOW_HOST_SUFFIX): the mirrored request keeps its Host, no `-shadow`.
    if (meshConfig(ctx.options).disableShadowHostSuffixAppend) policy.disable_shadow_host_suffix_append = true;
    mirrors.push(policy);
  };
  const mirrorPercent = rule.mirrorPercentage?.value ?? rule.mirrorPercent ?? rule.mirror_percent ?? undefined;
  if (rule.mirror) addMirror(rule.mirror, mirrorPercent, `${ctx.field}.mirror`);
  (rule.mirrors ?? []).forEach((mirror, index) => addMirror(mirror.destination, mirror.percentage?.value, `${ctx.field}.mirrors[${index}].destination`));
  if (mirrors.length > 0) action.request_mirror_policies = mirrors;
  return action;
}

function diag(ctx: HttpRouteContext, field: string, severity: Diagnostic["severity"], message: string): Diagnostic {
  return { severity, kind: "VirtualService", namespace: namespaceOf(ctx.virtualService), name: ctx.virtualService.metadata.name, field, message };
}
