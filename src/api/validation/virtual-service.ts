import type {
  CorsPolicy,
  Destination,
  HTTPDirectResponse,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRedirect,
  HTTPRetry,
  HTTPRewrite,
  HTTPRoute,
  Headers,
  StringMatch,
  TCPRoute,
  TLSRoute,
  VirtualServiceSpec,
} from "../types.js";
import { checkDuration, checkExportTo, checkHeaderName, checkLabels, checkPortNumber } from "./common.js";
import type { Findings} from "./findings.js";
import { at, key } from "./findings.js";
import { fqdnProblem, isCidrOrIP, isDnsLabel, isHeaderName, isIP, wildcardDomainProblem } from "./names.js";
import { regexProblem } from "./regex.js";

/**
 * Istio's VirtualService rules (pkg/config/validation/validation.go ValidateVirtualService and
 * virtualservice.go validateHTTPRoute; agent/validation.go for retries, ports, durations, hosts).
 * Proto3 semantics: a zero or empty scalar is "unset" (`port: 0`, `redirectCode: 0`, `subset: ""`).
 */

/** Envoy's retry_on conditions Istio accepts (agent/validation.go supportedRetryOnPolicies). */
const RETRY_POLICIES = new Set([
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "envoy-ratelimited",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);

/** Status codes Go's net/http knows (http.StatusText non-empty): Istio's test for a numeric retryOn token. */
const KNOWN_HTTP_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408,
  409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

/** validation.go supportedCORSMethods (Go's http.Method* plus "*"). */
const CORS_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"]);

/** pkg/util/grpc/codes.go SupportedGRPCStatus. */
const GRPC_STATUSES = new Set([
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
]);

/** validation.go pseudoHeaders: allowed as match keys. */
const PSEUDO_HEADERS = new Set([":method", ":scheme", ":authority", ":path", ":status"]);

const KIB = 1024;
const MIB = 1024 * KIB;

/** jwt.ToRoutingClaim: `@request.auth.claims.a.b` or `@request.auth.claims[a][b]`. */
function isJwtClaimRoute(name: string): boolean {
  const prefix = "@request.auth.claims";
  if (!name.toLowerCase().startsWith(prefix)) return false;
  const rest = name.slice(prefix.length);
  return (rest.startsWith(".") && rest.length > 1) || (rest.startsWith("[") && rest.endsWith("]") && rest.length > 2);
}

/** host.Name.Matches: two hosts overlap (wildcards by suffix; case-sensitive like Istio). */
function hostsOverlap(a: string, b: string): boolean {
  const aWild = a.startsWith("*");
  const bWild = b.startsWith("*");
  if (aWild && bWild) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
  if (aWild) return b.endsWith(a.slice(1));
  if (bWild) return a.endsWith(b.slice(1));
  return a === b;
}

/** host.Name.SubsetOf: every name `sni` covers is covered by `host`. */
function hostSubsetOf(sni: string, host: string): boolean {
  const sniWild = sni.startsWith("*");
  const hostWild = host.startsWith("*");
  if (sniWild) return hostWild && sni.length >= host.length && sni.slice(1).endsWith(host.slice(1));
  if (hostWild) return sni.endsWith(host.slice(1));
  return sni === host;
}

/** agent.ValidateWildcardDomainForVirtualServiceBoundToGateway: also allows outbound_.<port>_._.<host> SNI names. */
function gatewayBoundHostProblem(sni: boolean, domain: string): string | undefined {
  if (sni && domain.startsWith("outbound_") && domain.length <= 255) {
    const parts = domain.split("_");
    if (parts.length < 4) return `domain name "${domain}" is invalid: use the outbound_.<port>_._.<hostname> form`;
    const port = (parts[1] ?? "").replace(/^\.+|\.+$/g, "");
    const hostname = (parts[3] ?? "").replace(/^\.+|\.+$/g, "");
    if (!/[0-9]/.test(port)) return `domain name "${domain}" is invalid: label "${port}" should be a port (outbound_.<port>_._.<hostname>)`;
    if (!/[a-zA-Z]/.test(hostname)) return `domain name "${domain}" is invalid: label "${hostname}" should be a host name (outbound_.<port>_._.<hostname>)`;
    return undefined;
  }
  return wildcardDomainProblem(domain);
}

export function validateVirtualServiceSpec(spec: VirtualServiceSpec, out: Findings): void {
  const hosts = spec.hosts ?? [];
  const gateways = spec.gateways ?? [];
  const isDelegate = hosts.length === 0;
  if (isDelegate) {
    // A VirtualService without hosts can only be a delegate, referenced from another one's http.delegate.
    if (gateways.length > 0) out.error("spec.gateways", "a delegate VirtualService (no hosts) must not set gateways: add hosts or remove gateways");
    if (spec.tls?.length) out.error("spec.tls", "a delegate VirtualService (no hosts) cannot have tls routes: add hosts");
    if (spec.tcp?.length) out.error("spec.tcp", "a delegate VirtualService (no hosts) cannot have tcp routes: add hosts");
  }
  const appliesToGateway = gateways.length > 0 && !gateways.includes("mesh");
  const appliesToMesh = !appliesToGateway;
  if (gateways.length > 0) checkGatewayNames(out, "spec.gateways", gateways);
  if (!appliesToGateway) {
    for (const [index, route] of (spec.http ?? []).entries()) {
      for (const [matchIndex, match] of (route.match ?? []).entries()) {
        for (const field of ["headers", "withoutHeaders"] as const) {
          for (const name of Object.keys(match[field] ?? {})) {
            if (isJwtClaimRoute(name)) {
              out.error(key(`${at(`${at("spec.http", index)}.match`, matchIndex)}.${field}`, name), `JWT claim based routing ("${name}") is only supported on gateways: set spec.gateways`);
            }
          }
        }
      }
    }
  }
  const sni = (spec.tls ?? []).some((route) => (route.match ?? []).some((match) => (match.sniHosts?.length ?? 0) > 0));
  let allHostsValid = true;
  for (const [index, host] of hosts.entries()) {
    const path = at("spec.hosts", index);
    const problem = appliesToGateway ? gatewayBoundHostProblem(sni, host) : wildcardDomainProblem(host);
    if (problem) {
      if (!isIP(host)) {
        out.error(path, problem);
        allHostsValid = false;
      }
    } else if (appliesToMesh && host === "*") {
      out.error(path, 'the wildcard host "*" is not allowed for a VirtualService bound to the mesh gateway: list the hosts, or set gateways to a Gateway');
      allHostsValid = false;
    }
  }
  if (allHostsValid) {
    for (let i = 0; i < hosts.length; i++) {
      for (let j = i + 1; j < hosts.length; j++) {
        const a = hosts[i] ?? "";
        const b = hosts[j] ?? "";
        if (hostsOverlap(a, b)) out.error(at("spec.hosts", j), `duplicate hosts in the VirtualService: "${a}" (spec.hosts[${i}]) and "${b}" overlap; keep one`);
      }
    }
  }
  if (!spec.http?.length && !spec.tcp?.length && !spec.tls?.length) {
    out.error("spec", "a VirtualService needs at least one of http, tcp or tls routes");
  }
  validateHTTPRoutes(spec.http ?? [], isDelegate, out);
  for (const [index, route] of (spec.tls ?? []).entries()) validateTLSRoute(route, hosts, appliesToGateway, at("spec.tls", index), out);
  for (const [index, route] of (spec.tcp ?? []).entries()) validateTCPRoute(route, at("spec.tcp", index), out);
  checkExportTo(out, "spec.exportTo", spec.exportTo);
}

/** validation.go validateGatewayNames (it stops after the first name without "/", like Istio). */
function checkGatewayNames(out: Findings, path: string, gateways: readonly string[]): void {
  for (const [index, name] of gateways.entries()) {
    const itemPath = at(path, index);
    const slash = name.indexOf("/");
    if (slash < 0) {
      if (name.includes(".")) {
        const [gatewayName = "", namespace = ""] = name.split(".");
        out.warning(itemPath, `legacy gateway reference "${name}": prefer the namespace/name form "${namespace}/${gatewayName}"`);
      }
      const problem = fqdnProblem(name);
      if (problem) out.error(itemPath, `invalid gateway reference: ${problem}`);
      return;
    }
    const namespace = name.slice(0, slash);
    const gatewayName = name.slice(slash + 1);
    if (namespace === "" || gatewayName === "") out.error(itemPath, `gateway reference "${name}" needs both a namespace and a name: "namespace/name"`);
    if (namespace !== "" && !isDnsLabel(namespace)) out.error(itemPath, `gateway reference "${name}" has an invalid namespace "${namespace}": use a namespace name ("./name" is not a gateway reference form)`);
    if (gatewayName !== "" && !isDnsLabel(gatewayName)) out.error(itemPath, `gateway reference "${name}" has an invalid gateway name "${gatewayName}"`);
  }
}

function validateHTTPRoutes(routes: readonly HTTPRoute[], isDelegate: boolean, out: Findings): void {
  let catchAll: number | undefined;
  const matchesSeen = new Map<string, string>();
  for (const [index, route] of routes.entries()) {
    const path = at("spec.http", index);
    validateHTTPRoute(route, path, isDelegate, out);
    // Istio warns about rules that can never be used (analyzeUnreachableHTTPRules): after a rule without match, or a repeated match.
    if (catchAll !== undefined) {
      out.warning(path, `this route is unreachable: spec.http[${catchAll}] has no match and catches every request first; move it last or add a match`);
      continue;
    }
    const matches = route.match ?? [];
    if (matches.length === 0 || matches.some((m) => isEmptyMatch(m))) {
      catchAll = index;
      continue;
    }
    for (const [matchIndex, match] of matches.entries()) {
      const signature = JSON.stringify({ ...match, name: undefined });
      const earlier = matchesSeen.get(signature);
      if (earlier !== undefined) out.warning(at(`${path}.match`, matchIndex), `this match is unreachable: ${earlier} has the same match and is checked first; remove one`);
      else matchesSeen.set(signature, at(`${path}.match`, matchIndex));
    }
  }
}

function isEmptyMatch(match: HTTPMatchRequest): boolean {
  return Object.entries(match).every(([field, value]) => field === "name" || value === undefined);
}

/** virtualservice.go validateHTTPRouteConflict. */
function validateRouteConflicts(route: HTTPRoute, path: string, isDelegate: boolean, out: Findings): void {
  const hasRoute = (route.route?.length ?? 0) > 0;
  if (!isDelegate && route.delegate) {
    // A root route may only delegate: Istio checks redirect and route, nothing else.
    if (route.redirect) out.error(`${path}.redirect`, "a route with delegate must not set redirect");
    if (hasRoute) out.error(`${path}.route`, "a route with delegate must not set route");
    return;
  }
  if (isDelegate && route.delegate) out.error(`${path}.delegate`, "a delegate VirtualService cannot delegate again: only one level of delegation is supported");
  if (route.redirect) {
    if (hasRoute) out.error(`${path}.redirect`, "a route cannot have both route and redirect: remove one");
    if (route.fault) out.error(`${path}.fault`, "a route cannot have both fault and redirect: a redirect answers before any fault applies");
    if (route.rewrite) out.error(`${path}.rewrite`, "rewrite cannot be combined with redirect: a redirect answers the client directly");
    if (route.directResponse) out.error(`${path}.directResponse`, "a route cannot have both redirect and directResponse: remove one");
  } else if (route.directResponse) {
    if (hasRoute) out.error(`${path}.directResponse`, "a route cannot have both route and directResponse: remove one");
    if (route.fault) out.error(`${path}.fault`, "a route cannot have both fault and directResponse: remove one");
    if (route.rewrite) out.error(`${path}.rewrite`, "rewrite cannot be combined with directResponse: remove one");
  } else if (!hasRoute) {
    out.error(path, "an http route needs one of route, redirect or directResponse (or delegate)");
  }
  if (route.mirror && route.mirrors?.length) out.error(`${path}.mirrors`, "mirror and mirrors cannot both be set: move mirror into mirrors");
}

function validateHTTPRoute(route: HTTPRoute, path: string, isDelegate: boolean, out: Findings): void {
  validateRouteConflicts(route, path, isDelegate, out);
  for (const [index, match] of (route.match ?? []).entries()) validateMatch(match, at(`${path}.match`, index), out);
  validateHeaders(route.headers, `${path}.headers`, out);
  if (route.corsPolicy) validateCors(route.corsPolicy, `${path}.corsPolicy`, out);
  if (route.fault) validateFault(route.fault, `${path}.fault`, out);
  for (const field of ["mirrorPercent", "mirror_percent"] as const) {
    const value = route[field];
    if (value === undefined || value === null) continue;
    if (value > 100) out.error(`${path}.${field}`, `${field} ${value} must be at most 100`);
    out.warning(`${path}.${field}`, `${field} is deprecated: use mirrorPercentage`);
  }
  const mirrorPercentage = route.mirrorPercentage?.value;
  if (mirrorPercentage !== undefined && (mirrorPercentage > 100 || mirrorPercentage < 0)) {
    out.error(`${path}.mirrorPercentage.value`, `mirrorPercentage ${mirrorPercentage} must be between 0 and 100`);
  }
  if (route.mirror) validateDestination(route.mirror, `${path}.mirror`, out);
  for (const [index, mirror] of (route.mirrors ?? []).entries()) {
    const mirrorPath = at(`${path}.mirrors`, index);
    validateDestination(mirror.destination, `${mirrorPath}.destination`, out);
    const value = mirror.percentage?.value;
    if (value !== undefined && (value > 100 || value < 0)) out.error(`${mirrorPath}.percentage.value`, `mirror percentage ${value} must be between 0 and 100`);
  }
  if (route.redirect) validateRedirect(route.redirect, route.match ?? [], `${path}.redirect`, out);
  if (route.directResponse) validateDirectResponse(route.directResponse, `${path}.directResponse`, out);
  if (route.retries) validateRetries(route.retries, `${path}.retries`, out);
  if (route.rewrite) validateRewrite(route.rewrite, `${path}.rewrite`, out);
  validateAuthorityRewrite(route, path, out);
  validateHTTPDestinations(route, path, out);
  checkDuration(out, `${path}.timeout`, route.timeout);
}

/** validation.go validateHTTPRedirect: the first problem only, like Istio. */
function validateRedirect(redirect: HTTPRedirect, matches: readonly HTTPMatchRequest[], path: string, out: Findings): void {
  const uri = redirect.uri ?? "";
  const prefixRewrite = redirect.prefixRewrite ?? "";
  if (uri !== "" && prefixRewrite !== "") return out.error(path, "redirect may set only one of uri and prefixRewrite");
  if (prefixRewrite !== "" && matches.some((m) => m.uri !== undefined && m.uri.prefix === undefined)) {
    return out.error(`${path}.prefixRewrite`, "redirect.prefixRewrite requires every uri match of the route to be a prefix match");
  }
  const hasPort = (redirect.port !== undefined && redirect.port !== 0) || redirect.derivePort !== undefined;
  if (uri === "" && prefixRewrite === "" && !redirect.authority && !hasPort && !redirect.scheme) {
    return out.error(path, "redirect must set at least one of uri, prefixRewrite, authority, scheme, port or derivePort");
  }
  const code = redirect.redirectCode;
  if (code !== undefined && code !== 0 && (code < 300 || code > 399)) {
    return out.error(`${path}.redirectCode`, `redirect code ${code} is not a 3xx status: use 301, 302, 303, 307 or 308`);
  }
  if (redirect.scheme && redirect.scheme !== "http" && redirect.scheme !== "https") return out.error(`${path}.scheme`, `redirect scheme "${redirect.scheme}" is invalid: use "http" or "https"`);
  if (redirect.port !== undefined && redirect.port > 0) checkPortNumber(out, `${path}.port`, redirect.port);
}

/** validateHTTPStatus: Istio accepts 200..600 (its check is `status > 600`). */
function checkHTTPStatus(out: Findings, path: string, status: number): void {
  if (status < 200 || status > 600) out.error(path, `HTTP status ${status} must be between 200 and 599`);
}

function isBase64(text: string): boolean {
  const unpadded = text.replace(/={1,2}$/, "");
  return /^[A-Za-z0-9+/_-]*$/.test(unpadded) && unpadded.length % 4 !== 1 && (unpadded.length === text.length || text.length % 4 === 0);
}

/** validation.go validateHTTPDirectResponse. */
function validateDirectResponse(response: HTTPDirectResponse, path: string, out: Findings): void {
  const body = response.body;
  // protojson decodes `bytes` as standard or URL-safe base64 and refuses anything else, so istiod
  // drops such a resource; Buffer.from would silently skip the bad characters instead.
  if (body?.bytes !== undefined && !isBase64(body.bytes)) {
    out.error(`${path}.body.bytes`, "directResponse body.bytes must be base64 (standard or URL-safe alphabet): encode the body, or use body.string for text");
  } else if (body) {
    const size = body.string !== undefined ? Buffer.byteLength(body.string, "utf8") : body.bytes !== undefined ? Buffer.from(body.bytes, "base64").length : 0;
    if (size > MIB) out.error(`${path}.body`, `directResponse body is ${size} bytes: it must be at most 1 MiB (large bodies burden the control plane)`);
    else if (size > 100 * KIB) out.warning(`${path}.body`, `directResponse body is ${size} bytes: bodies over 100 KiB may impact control plane performance`);
  }
  checkHTTPStatus(out, `${path}.status`, response.status);
}

/** validation.go validateHTTPRewrite and validateURIRegexRewrite. */
function validateRewrite(rewrite: HTTPRewrite, path: string, out: Findings): void {
  const uri = rewrite.uri ?? "";
  const regexRewrite = rewrite.uriRegexRewrite;
  if (uri !== "" && regexRewrite) return out.error(path, "rewrite.uri and rewrite.uriRegexRewrite cannot both be set: keep one");
  if (uri === "" && !regexRewrite && !rewrite.authority) return out.error(path, "rewrite must set at least one of uri, uriRegexRewrite or authority");
  if (regexRewrite) {
    if (!regexRewrite.match || !regexRewrite.rewrite) return out.error(`${path}.uriRegexRewrite`, "uriRegexRewrite needs both match and rewrite");
    checkRegex(out, `${path}.uriRegexRewrite.match`, regexRewrite.match);
  }
}

/** virtualservice.go validateAuthorityRewrite: the authority is rewritten in one place only. */
function validateAuthorityRewrite(route: HTTPRoute, path: string, out: Findings): void {
  let current = route.rewrite?.authority ?? "";
  for (const operation of ["set", "add"] as const) {
    for (const [name, value] of Object.entries(route.headers?.request?.[operation] ?? {})) {
      const lower = name.toLowerCase();
      if (lower !== ":authority" && lower !== "host") continue;
      if (current !== "") {
        out.error(key(`${path}.headers.request.${operation}`, name), `the authority is already set to "${current}": rewrite.authority and host/:authority headers cannot be combined`);
        return;
      }
      current = value;
    }
  }
}

function validateHTTPDestinations(route: HTTPRoute, path: string, out: Findings): void {
  const destinations = route.route ?? [];
  let total = 0;
  for (const [index, destination] of destinations.entries()) {
    const itemPath = at(`${path}.route`, index);
    validateHeaders(destination.headers, `${itemPath}.headers`, out);
    validateDestination(destination.destination, `${itemPath}.destination`, out);
    total += checkWeight(out, `${itemPath}.weight`, destination.weight);
  }
  if (destinations.length > 1 && total === 0) out.error(`${path}.route`, "the weights of all destinations are 0: give at least one destination a positive weight");
}

function checkWeight(out: Findings, path: string, weight: number | undefined): number {
  if (weight === undefined) return 0;
  if (weight < 0) {
    out.error(path, `weight ${weight} cannot be negative`);
    return 0;
  }
  return weight;
}

/** validation.go validateDestination. */
function validateDestination(destination: Destination | undefined, path: string, out: Findings): void {
  if (!destination) return;
  if (destination.host === "*") out.error(`${path}.host`, 'destination host "*" is invalid: name one service');
  else {
    const problem = wildcardDomainProblem(destination.host);
    if (problem) out.error(`${path}.host`, problem);
  }
  if (destination.subset !== undefined && destination.subset !== "" && !isDnsLabel(destination.subset)) {
    out.error(`${path}.subset`, `subset name "${destination.subset}" is invalid: use a DNS-1123 label such as v1`);
  }
  if (destination.port) {
    const number = destination.port.number ?? 0;
    if (number < 1 || number > 65535) out.error(`${path}.port.number`, `port number ${number} must be in the range 1..65535`);
  }
}

/** virtualservice.go validateHTTPRouteMatchRequest. */
function validateMatch(match: HTTPMatchRequest, path: string, out: Findings): void {
  for (const [name, value] of Object.entries(match.headers ?? {})) {
    const headerPath = key(`${path}.headers`, name);
    checkMatchHeaderName(out, headerPath, name);
    validateStringMatch(value, headerPath, out);
  }
  for (const [name, value] of Object.entries(match.withoutHeaders ?? {})) {
    const headerPath = key(`${path}.withoutHeaders`, name);
    checkMatchHeaderName(out, headerPath, name);
    // `regex: "*"` is Istio's "header absent" shorthand, not a regex.
    if (value.regex !== "*") validateStringMatch(value, headerPath, out);
  }
  // uri allows an empty prefix (Envoy's route prefix ""), the other fields do not.
  if (match.uri?.regex !== undefined) checkRegex(out, `${path}.uri.regex`, match.uri.regex);
  for (const field of ["scheme", "method", "authority"] as const) {
    const value = match[field];
    if (value) validateStringMatch(value, `${path}.${field}`, out);
  }
  for (const [name, value] of Object.entries(match.queryParams ?? {})) validateStringMatch(value, key(`${path}.queryParams`, name), out);
  if (match.port !== undefined && match.port !== 0) checkPortNumber(out, `${path}.port`, match.port);
  checkLabels(out, `${path}.sourceLabels`, match.sourceLabels);
  checkGatewayNames(out, `${path}.gateways`, match.gateways ?? []);
  if (match.sourceNamespace && !isDnsLabel(match.sourceNamespace)) out.error(`${path}.sourceNamespace`, `sourceNamespace "${match.sourceNamespace}" is not a valid namespace name`);
}

/** ValidateHTTPHeaderNameOrJwtClaimRoute. */
function checkMatchHeaderName(out: Findings, path: string, name: string): void {
  if (name === "") out.error(path, "header name cannot be empty");
  else if (!isJwtClaimRoute(name) && !PSEUDO_HEADERS.has(name) && !isHeaderName(name)) {
    out.error(path, `header name "${name}" is invalid: use letters, digits and '-' (an RFC 7230 token), a pseudo-header such as :authority, or @request.auth.claims.<claim>`);
  }
}

/** validation.go validateStringMatch: an empty prefix and an invalid regex are errors. */
function validateStringMatch(match: StringMatch, path: string, out: Findings): void {
  if (match.prefix !== undefined && match.prefix === "") out.error(`${path}.prefix`, 'prefix match cannot be empty: use "/" to match every path');
  if (match.regex !== undefined) checkRegex(out, `${path}.regex`, match.regex);
}

function checkRegex(out: Findings, path: string, pattern: string): void {
  if (pattern === "") {
    out.error(path, "regex cannot be empty");
    return;
  }
  const problem = regexProblem(pattern);
  if (problem) out.error(path, problem);
}

/** agent/validation.go ValidateHTTPRetry. */
function validateRetries(retries: HTTPRetry, path: string, out: Findings): void {
  const attempts = retries.attempts ?? 0;
  if (attempts < 0) out.error(`${path}.attempts`, `attempts ${attempts} cannot be negative: use 0 to disable retries`);
  if (attempts === 0 && (retries.perTryTimeout !== undefined || (retries.retryOn ?? "") !== "" || (retries.retryRemoteLocalities !== undefined && retries.retryRemoteLocalities !== null))) {
    out.error(`${path}.attempts`, "retries are disabled (attempts is 0 or unset) but perTryTimeout, retryOn or retryRemoteLocalities is set: set attempts");
  }
  checkDuration(out, `${path}.perTryTimeout`, retries.perTryTimeout);
  if (retries.retryOn) {
    for (const policy of retries.retryOn.split(",")) {
      const status = /^[+-]?\d+$/.test(policy) ? Number(policy) : 0;
      if (!KNOWN_HTTP_STATUS.has(status) && !RETRY_POLICIES.has(policy)) {
        out.error(`${path}.retryOn`, `"${policy}" is not a valid retryOn policy: use Envoy conditions such as 5xx, gateway-error, connect-failure, retriable-4xx, refused-stream, or an HTTP status code such as 503 (no spaces, no empty entries)`);
      }
    }
  }
  checkDuration(out, `${path}.backoff`, retries.backoff);
}

/** validation.go validatePercentage: 0, or 0.0001..100. */
function checkFaultPercentage(out: Findings, path: string, value: number | undefined): void {
  if (value === undefined) return;
  if (value < 0 || value > 100 || (value > 0 && value < 0.0001)) out.error(path, `percentage ${value} must be 0 or between 0.0001 and 100`);
}

/** validation.go validateHTTPFaultInjection, ...Abort, ...Delay. */
function validateFault(fault: HTTPFaultInjection, path: string, out: Findings): void {
  if (!fault.abort && !fault.delay) out.error(path, "fault injection needs an abort or a delay (or both)");
  const abort = fault.abort;
  if (abort) {
    checkFaultPercentage(out, `${path}.abort.percentage.value`, abort.percentage?.value);
    if (abort.grpcStatus !== undefined) {
      if (!GRPC_STATUSES.has(abort.grpcStatus)) out.error(`${path}.abort.grpcStatus`, `gRPC status "${abort.grpcStatus}" is not supported: use a code name such as NOT_FOUND or UNAVAILABLE`);
    } else if (abort.http2Error !== undefined) {
      out.error(`${path}.abort.http2Error`, "HTTP/2 abort fault injection is not supported (by Istio either): use httpStatus or grpcStatus");
    } else if (abort.httpStatus !== undefined) {
      checkHTTPStatus(out, `${path}.abort.httpStatus`, abort.httpStatus);
    } else {
      out.warning(`${path}.abort`, "abort is configured without httpStatus or grpcStatus: it does nothing");
    }
  }
  const delay = fault.delay;
  if (delay) {
    checkFaultPercentage(out, `${path}.delay.percentage.value`, delay.percentage?.value);
    if (delay.fixedDelay !== undefined) checkDuration(out, `${path}.delay.fixedDelay`, delay.fixedDelay);
    else if (delay.exponentialDelay !== undefined) {
      checkDuration(out, `${path}.delay.exponentialDelay`, delay.exponentialDelay);
      out.error(`${path}.delay.exponentialDelay`, "exponentialDelay is not supported (by Istio either): use fixedDelay");
    }
  }
}

/** validation.go validateCORSPolicy. */
function validateCors(cors: CorsPolicy, path: string, out: Findings): void {
  for (const [index, origin] of (cors.allowOrigins ?? []).entries()) {
    const originPath = at(`${path}.allowOrigins`, index);
    const value = origin.exact ?? origin.prefix ?? origin.regex ?? "";
    if (value === "") out.error(originPath, "an allowOrigins entry needs a non-empty exact, prefix or regex");
    else if (origin.regex !== undefined) checkRegex(out, `${originPath}.regex`, origin.regex);
  }
  for (const [index, method] of (cors.allowMethods ?? []).entries()) {
    if (!CORS_METHODS.has(method)) out.error(at(`${path}.allowMethods`, index), `"${method}" is not a supported HTTP method: use GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT, TRACE or "*"`);
  }
  for (const field of ["allowHeaders", "exposeHeaders"] as const) {
    for (const [index, header] of (cors[field] ?? []).entries()) {
      if (header !== "*") checkHeaderName(out, at(`${path}.${field}`, index), header);
    }
  }
  const maxAge = checkDuration(out, `${path}.maxAge`, cors.maxAge);
  if (maxAge !== undefined && maxAge >= 1 && maxAge % 1000 !== 0) out.error(`${path}.maxAge`, `maxAge "${cors.maxAge}" must be whole seconds (Access-Control-Max-Age is in seconds)`);
}

/**
 * Istio's header operation rules: request set/add may name any header except pseudo-headers
 * other than :authority (and `host`), which rewrite the authority; request remove and every
 * response operation refuse `host` and pseudo-headers. Names are not checked for characters.
 */
function validateHeaders(headers: Headers | undefined, path: string, out: Findings): void {
  if (!headers) return;
  for (const direction of ["request", "response"] as const) {
    const operations = headers[direction];
    if (!operations) continue;
    for (const operation of ["set", "add"] as const) {
      for (const [name, value] of Object.entries(operations[operation] ?? {})) {
        const headerPath = key(`${path}.${direction}.${operation}`, name);
        checkOperationName(out, headerPath, name, direction === "request");
        const problem = headerValueProblem(value);
        if (problem) out.error(headerPath, problem);
      }
    }
    for (const [index, name] of (operations.remove ?? []).entries()) checkOperationName(out, at(`${path}.${direction}.remove`, index), name, false);
  }
}

/** ValidateHTTPHeaderWithAuthorityOperationName / ValidateHTTPHeaderOperationName. */
function checkOperationName(out: Findings, path: string, name: string, authorityAllowed: boolean): void {
  if (name === "") return out.error(path, "header name cannot be empty");
  const lower = name.toLowerCase();
  const isAuthority = lower === ":authority" || lower === "host";
  if (authorityAllowed && isAuthority) return;
  if (lower === "host") return out.error(path, 'the "host" header cannot be removed or set here: use rewrite.authority (request) to change it');
  if (name.startsWith(":")) out.error(path, `header "${name}" cannot be modified: pseudo-headers (":" prefix) are Envoy's`);
}

/** ValidateHTTPHeaderValue: no control characters; '%' starts an Envoy %VARIABLE% ("%%" is a literal '%'). */
export function headerValueProblem(value: string): string | undefined {
  const controlCharacter = [...value].some((char) => {
    const code = char.charCodeAt(0);
    return (code <= 0x08) || (code >= 0x0a && code <= 0x1f) || code === 0x7f;
  });
  if (controlCharacter) return "header value contains a control character (line break, NUL, ...), which HTTP forbids";
  let inVariable = false;
  let inArguments = false;
  for (let index = 0; index < value.length; index++) {
    const char = value[index];
    if (!inVariable) {
      if (char !== "%") continue;
      if (index + 1 >= value.length) return `header value "${value}" ends with an un-escaped '%': write '%%' for a literal percent sign`;
      if (value[index + 1] === "%") {
        index++;
        continue;
      }
      inVariable = true;
    } else if (inArguments) {
      if (char === ")") inArguments = false;
    } else if (char === "(") inArguments = true;
    else if (char === "%") inVariable = false;
  }
  if (inVariable) return `header value "${value}" has an unterminated %VARIABLE% expression: close it with '%' or write '%%' for a literal percent sign`;
  return undefined;
}

/** validation.go validateTCPRoute / validateTCPMatch. */
function validateTCPRoute(route: TCPRoute, path: string, out: Findings): void {
  for (const [index, match] of (route.match ?? []).entries()) {
    const matchPath = at(`${path}.match`, index);
    for (const [subnetIndex, subnet] of (match.destinationSubnets ?? []).entries()) {
      if (!isCidrOrIP(subnet)) out.error(at(`${matchPath}.destinationSubnets`, subnetIndex), `"${subnet}" is not an IP address or CIDR block such as 10.0.0.0/16`);
    }
    if (match.port !== undefined && match.port !== 0) checkPortNumber(out, `${matchPath}.port`, match.port);
    checkLabels(out, `${matchPath}.sourceLabels`, match.sourceLabels);
    checkGatewayNames(out, `${matchPath}.gateways`, match.gateways ?? []);
  }
  if (!route.route?.length) out.error(`${path}.route`, "a tcp route needs at least one destination in route");
  validateL4Destinations(route.route ?? [], `${path}.route`, out);
}

function validateL4Destinations(destinations: readonly { destination: Destination; weight?: number }[], path: string, out: Findings): void {
  let total = 0;
  for (const [index, destination] of destinations.entries()) {
    validateDestination(destination.destination, `${at(path, index)}.destination`, out);
    total += checkWeight(out, `${at(path, index)}.weight`, destination.weight);
  }
  if (destinations.length > 1 && total === 0) out.error(path, "the weights of all destinations are 0: give at least one destination a positive weight");
}

/** validation.go validateTLSRoute / validateTLSMatch / validateSniHost. */
function validateTLSRoute(route: TLSRoute, hosts: readonly string[], appliesToGateway: boolean, path: string, out: Findings): void {
  if (!route.match?.length) out.error(`${path}.match`, "a tls route needs at least one match with sniHosts");
  for (const [index, match] of (route.match ?? []).entries()) {
    const matchPath = at(`${path}.match`, index);
    if (!match.sniHosts?.length) out.error(`${matchPath}.sniHosts`, "a tls match needs at least one SNI host in sniHosts");
    for (const [sniIndex, sni] of (match.sniHosts ?? []).entries()) {
      const sniPath = at(`${matchPath}.sniHosts`, sniIndex);
      const problem = appliesToGateway ? gatewayBoundHostProblem(true, sni) : wildcardDomainProblem(sni);
      if (problem) {
        if (isIP(sni)) out.warning(sniPath, `SNI host "${sni}" is an IP address: this goes against the SNI specification and most clients do not send it`);
        else out.error(sniPath, problem);
        continue;
      }
      if (!hosts.some((host) => hostSubsetOf(sni, host))) {
        out.error(sniPath, `SNI host "${sni}" is not covered by any of the VirtualService's hosts [${hosts.join(", ")}]: add it to spec.hosts or fix the name`);
      }
    }
    for (const [subnetIndex, subnet] of (match.destinationSubnets ?? []).entries()) {
      if (!isCidrOrIP(subnet)) out.error(at(`${matchPath}.destinationSubnets`, subnetIndex), `"${subnet}" is not an IP address or CIDR block such as 10.0.0.0/16`);
    }
    if (match.port !== undefined && match.port !== 0) checkPortNumber(out, `${matchPath}.port`, match.port);
    checkLabels(out, `${matchPath}.sourceLabels`, match.sourceLabels);
    checkGatewayNames(out, `${matchPath}.gateways`, match.gateways ?? []);
  }
  if (!route.route?.length) out.error(`${path}.route`, "a tls route needs at least one destination in route");
  validateL4Destinations(route.route ?? [], `${path}.route`, out);
}
