import type {
  CorsPolicy,
  Destination,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRetry,
  HTTPRoute,
  Headers,
  StringMatch,
  TCPRoute,
  TLSRoute,
  VirtualServiceSpec,
} from "../types.js";
import { checkDuration, checkExportTo, checkHeaderName, checkLabels, checkPercentage, checkPortNumber } from "./common.js";
import type { Findings} from "./findings.js";
import { at, key } from "./findings.js";
import { fqdnProblem, isCidrOrIP, isDnsLabel, isIP, isLowercaseDnsLabel, wildcardDomainProblem } from "./names.js";
import { regexProblem } from "./regex.js";

/** Envoy's retry_on conditions that Istio accepts in retries.retryOn (plus bare status codes). */
const RETRY_POLICIES = new Set([
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);
const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);

export function validateVirtualServiceSpec(spec: VirtualServiceSpec, out: Findings): void {
  const hosts = spec.hosts ?? [];
  const gateways = spec.gateways ?? [];
  const isDelegate = hosts.length === 0;
  if (!spec.http?.length && !spec.tcp?.length && !spec.tls?.length) {
    out.error("spec", "a VirtualService needs at least one of http, tcp or tls routes");
  }
  if (isDelegate) {
    // A VirtualService without hosts can only be a delegate, referenced from another one's http.delegate.
    if (gateways.length > 0) out.error("spec.gateways", "a VirtualService without hosts is a delegate and cannot set gateways: add hosts or remove gateways");
    if (spec.tcp?.length) out.error("spec.tcp", "a delegate VirtualService (no hosts) cannot have tcp routes: add hosts");
    if (spec.tls?.length) out.error("spec.tls", "a delegate VirtualService (no hosts) cannot have tls routes: add hosts");
  }
  const boundToMesh = gateways.length === 0 || gateways.includes("mesh");
  const seen = new Map<string, number>();
  for (const [index, host] of hosts.entries()) {
    const path = at("spec.hosts", index);
    const lower = host.toLowerCase();
    const first = seen.get(lower);
    if (first !== undefined) out.error(path, `duplicate host "${host}" (also spec.hosts[${first}]): list each host once`);
    else seen.set(lower, index);
    if (host === "*" && boundToMesh) {
      out.error(path, 'the wildcard host "*" is not allowed for a VirtualService bound to the mesh gateway: list the hosts, or set gateways to a Gateway');
      continue;
    }
    if (host.includes("/")) {
      out.error(path, `host "${host}" cannot carry a namespace: VirtualService hosts are plain names (namespaces go in the Gateway's server hosts)`);
      continue;
    }
    if (isIP(host)) continue;
    const problem = wildcardDomainProblem(host);
    if (problem) out.error(path, problem);
  }
  checkGatewayNames(out, "spec.gateways", gateways);
  checkExportTo(out, "spec.exportTo", spec.exportTo);
  validateHTTPRoutes(spec.http ?? [], isDelegate, out);
  for (const [index, route] of (spec.tcp ?? []).entries()) validateTCPRoute(route, at("spec.tcp", index), out);
  for (const [index, route] of (spec.tls ?? []).entries()) validateTLSRoute(route, hosts, at("spec.tls", index), out);
}

function checkGatewayNames(out: Findings, path: string, gateways: readonly string[]): void {
  for (const [index, name] of gateways.entries()) {
    const itemPath = at(path, index);
    if (name === "mesh") continue;
    const slash = name.indexOf("/");
    if (slash < 0) {
      if (name.includes(".")) {
        const [gatewayName = "", namespace = ""] = name.split(".");
        out.warning(itemPath, `legacy gateway reference "${name}": prefer the namespace/name form "${namespace}/${gatewayName}"`);
      }
      const problem = fqdnProblem(name);
      if (problem) out.error(itemPath, `invalid gateway reference: ${problem}`);
      continue;
    }
    const namespace = name.slice(0, slash);
    const gatewayName = name.slice(slash + 1);
    if (namespace === "" || gatewayName === "") out.error(itemPath, `gateway reference "${name}" needs both a namespace and a name: "namespace/name"`);
    else if (namespace !== "." && !isLowercaseDnsLabel(namespace)) out.error(itemPath, `gateway reference "${name}" has an invalid namespace "${namespace}"`);
    else if (!isDnsLabel(gatewayName)) out.error(itemPath, `gateway reference "${name}" has an invalid gateway name "${gatewayName}"`);
  }
}

function validateHTTPRoutes(routes: readonly HTTPRoute[], isDelegate: boolean, out: Findings): void {
  let catchAll: number | undefined;
  const matchesSeen = new Map<string, string>();
  for (const [index, route] of routes.entries()) {
    const path = at("spec.http", index);
    validateHTTPRoute(route, path, isDelegate, out);
    // Istio warns about rules that can never be used: after a rule without match, or a repeated match.
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

function validateHTTPRoute(route: HTTPRoute, path: string, isDelegate: boolean, out: Findings): void {
  const hasRoute = (route.route?.length ?? 0) > 0;
  if (hasRoute && route.redirect) out.error(`${path}.redirect`, "a route cannot have both route and redirect: remove one");
  if (hasRoute && route.directResponse) out.error(`${path}.directResponse`, "a route cannot have both route and directResponse: remove one");
  if (route.redirect && route.directResponse) out.error(`${path}.directResponse`, "a route cannot have both redirect and directResponse: remove one");
  if (route.delegate) {
    if (hasRoute || route.redirect || route.directResponse) out.error(`${path}.delegate`, "a route with delegate cannot also have route, redirect or directResponse");
    if (isDelegate) out.error(`${path}.delegate`, "a delegate VirtualService cannot delegate again: only one level of delegation is supported");
    if (!route.delegate.name) out.error(`${path}.delegate.name`, "delegate.name is required: the name of the delegate VirtualService");
  }
  if (!hasRoute && !route.redirect && !route.directResponse && !route.delegate) {
    out.error(path, "an http route needs one of route, redirect, directResponse or delegate");
  }
  if (route.rewrite && route.redirect) out.error(`${path}.rewrite`, "rewrite cannot be combined with redirect: a redirect answers the client directly");
  if (route.rewrite?.uri !== undefined && route.rewrite.uriRegexRewrite) out.error(`${path}.rewrite`, "rewrite.uri and rewrite.uriRegexRewrite cannot both be set: keep one");
  if (route.rewrite?.uriRegexRewrite?.match !== undefined) checkRegex(out, `${path}.rewrite.uriRegexRewrite.match`, route.rewrite.uriRegexRewrite.match);
  for (const [index, match] of (route.match ?? []).entries()) validateMatch(match, at(`${path}.match`, index), out);
  validateHTTPDestinations(route, path, out);
  if (route.redirect) {
    const code = route.redirect.redirectCode;
    if (code !== undefined && (code < 300 || code > 399)) out.error(`${path}.redirect.redirectCode`, `redirect code ${code} is not a 3xx status: use 301, 302, 303, 307 or 308`);
    checkPortNumber(out, `${path}.redirect.port`, route.redirect.port);
    if (route.redirect.port !== undefined && route.redirect.derivePort) out.error(`${path}.redirect`, "redirect.port and redirect.derivePort cannot both be set");
  }
  if (route.directResponse) {
    const status = route.directResponse.status;
    if (status === undefined) out.error(`${path}.directResponse.status`, "directResponse.status is required (200..599)");
    else if (status < 200 || status > 599) out.error(`${path}.directResponse.status`, `directResponse status ${status} must be between 200 and 599`);
    const body = route.directResponse.body;
    if (body?.string !== undefined && body.bytes !== undefined) out.error(`${path}.directResponse.body`, "body.string and body.bytes cannot both be set");
  }
  checkDuration(out, `${path}.timeout`, route.timeout);
  if (route.retries) validateRetries(route.retries, `${path}.retries`, out);
  if (route.fault) validateFault(route.fault, `${path}.fault`, out);
  if (route.mirror && route.mirrors?.length) out.error(`${path}.mirrors`, "mirror and mirrors cannot both be set: move mirror into mirrors");
  if (route.mirror) validateDestination(route.mirror, `${path}.mirror`, out);
  for (const [index, mirror] of (route.mirrors ?? []).entries()) {
    validateDestination(mirror.destination, `${at(`${path}.mirrors`, index)}.destination`, out);
    checkPercentage(out, `${at(`${path}.mirrors`, index)}.percentage.value`, mirror.percentage?.value);
  }
  if (route.mirrorPercent !== undefined && route.mirrorPercent !== null && route.mirrorPercent > 100) {
    out.error(`${path}.mirrorPercent`, `mirrorPercent ${route.mirrorPercent} must be at most 100 (and it is deprecated: use mirrorPercentage)`);
  }
  checkPercentage(out, `${path}.mirrorPercentage.value`, route.mirrorPercentage?.value);
  if (route.corsPolicy) validateCors(route.corsPolicy, `${path}.corsPolicy`, out);
  validateHeaders(route.headers, `${path}.headers`, out);
}

function validateHTTPDestinations(route: HTTPRoute, path: string, out: Findings): void {
  const destinations = route.route ?? [];
  let total = 0;
  for (const [index, destination] of destinations.entries()) {
    const itemPath = at(`${path}.route`, index);
    validateDestination(destination.destination, `${itemPath}.destination`, out);
    total += checkWeight(out, `${itemPath}.weight`, destination.weight);
    validateHeaders(destination.headers, `${itemPath}.headers`, out);
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

function validateDestination(destination: Destination | undefined, path: string, out: Findings): void {
  if (!destination) {
    out.error(path, "destination is required: set destination.host");
    return;
  }
  if (!destination.host) out.error(`${path}.host`, "destination.host is required: the name of a Service, e.g. reviews or reviews.default.svc.cluster.local");
  else if (destination.host === "*") out.error(`${path}.host`, 'destination host "*" is invalid: name one service');
  else {
    const problem = wildcardDomainProblem(destination.host);
    if (problem) out.error(`${path}.host`, problem);
  }
  if (destination.subset !== undefined && !isDnsLabel(destination.subset)) {
    out.error(`${path}.subset`, `subset name "${destination.subset}" is invalid: use a DNS-1123 label such as v1`);
  }
  if (destination.port?.number !== undefined) checkPortNumber(out, `${path}.port.number`, destination.port.number);
}

function validateMatch(match: HTTPMatchRequest, path: string, out: Findings): void {
  for (const field of ["uri", "scheme", "method", "authority"] as const) {
    const value = match[field];
    if (value) validateStringMatch(value, `${path}.${field}`, out);
  }
  for (const field of ["headers", "withoutHeaders"] as const) {
    for (const [name, value] of Object.entries(match[field] ?? {})) {
      const headerPath = key(`${path}.${field}`, name);
      if (checkHeaderName(out, headerPath, name)) validateStringMatch(value, headerPath, out);
    }
  }
  for (const [name, value] of Object.entries(match.queryParams ?? {})) {
    const paramPath = key(`${path}.queryParams`, name);
    if (name === "") out.error(paramPath, "query parameter name cannot be empty");
    if (value.prefix !== undefined) out.error(`${paramPath}.prefix`, "prefix matching is not supported for query parameters: use exact or regex");
    else validateStringMatch(value, paramPath, out);
  }
  checkPortNumber(out, `${path}.port`, match.port);
  checkLabels(out, `${path}.sourceLabels`, match.sourceLabels);
  checkGatewayNames(out, `${path}.gateways`, match.gateways ?? []);
}

function validateStringMatch(match: StringMatch, path: string, out: Findings): void {
  const set = (["exact", "prefix", "regex"] as const).filter((f) => match[f] !== undefined);
  if (set.length > 1) {
    out.error(path, `only one of exact, prefix or regex may be set, found ${set.join(" and ")}`);
    return;
  }
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

function validateRetries(retries: HTTPRetry, path: string, out: Findings): void {
  if (retries.attempts !== undefined && retries.attempts < 0) out.error(`${path}.attempts`, `attempts ${retries.attempts} cannot be negative: use 0 to disable retries`);
  checkDuration(out, `${path}.perTryTimeout`, retries.perTryTimeout);
  checkDuration(out, `${path}.backoff`, retries.backoff);
  if (retries.retryOn !== undefined) {
    for (const policy of retries.retryOn.split(",").map((p) => p.trim())) {
      if (policy === "") continue;
      if (!RETRY_POLICIES.has(policy) && !/^\d+$/.test(policy)) {
        out.error(`${path}.retryOn`, `"${policy}" is not a valid retryOn policy: use Envoy conditions such as 5xx, gateway-error, connect-failure, retriable-4xx, refused-stream, or a status code such as 503`);
      }
    }
  }
}

function validateFault(fault: HTTPFaultInjection, path: string, out: Findings): void {
  if (!fault.abort && !fault.delay) out.error(path, "fault injection needs an abort or a delay (or both)");
  const abort = fault.abort;
  if (abort) {
    if (abort.http2Error !== undefined) out.error(`${path}.abort.http2Error`, "HTTP/2 abort fault injection is not supported: use httpStatus or grpcStatus");
    if (abort.httpStatus !== undefined && (abort.httpStatus < 200 || abort.httpStatus > 599)) {
      out.error(`${path}.abort.httpStatus`, `abort status ${abort.httpStatus} must be between 200 and 599`);
    }
    if (abort.httpStatus === undefined && abort.grpcStatus === undefined && abort.http2Error === undefined) out.error(`${path}.abort`, "abort needs httpStatus or grpcStatus");
    checkPercentage(out, `${path}.abort.percentage.value`, abort.percentage?.value);
  }
  const delay = fault.delay;
  if (delay) {
    if (delay.exponentialDelay !== undefined) out.error(`${path}.delay.exponentialDelay`, "exponentialDelay is not supported: use fixedDelay");
    if (delay.fixedDelay === undefined && delay.exponentialDelay === undefined) out.error(`${path}.delay`, "delay needs fixedDelay");
    checkDuration(out, `${path}.delay.fixedDelay`, delay.fixedDelay);
    if (delay.percent !== undefined && (delay.percent < 0 || delay.percent > 100)) out.error(`${path}.delay.percent`, `percent ${delay.percent} must be between 0 and 100`);
    checkPercentage(out, `${path}.delay.percentage.value`, delay.percentage?.value);
  }
}

function validateCors(cors: CorsPolicy, path: string, out: Findings): void {
  for (const [index, origin] of (cors.allowOrigins ?? []).entries()) validateStringMatch(origin, at(`${path}.allowOrigins`, index), out);
  for (const [index, method] of (cors.allowMethods ?? []).entries()) {
    if (!HTTP_METHODS.has(method)) out.error(at(`${path}.allowMethods`, index), `"${method}" is not an HTTP method: use GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT or TRACE`);
  }
  for (const field of ["allowHeaders", "exposeHeaders"] as const) {
    for (const [index, header] of (cors[field] ?? []).entries()) {
      if (header !== "*") checkHeaderName(out, at(`${path}.${field}`, index), header);
    }
  }
  const maxAge = checkDuration(out, `${path}.maxAge`, cors.maxAge);
  if (maxAge !== undefined && maxAge >= 1 && maxAge % 1000 !== 0) out.error(`${path}.maxAge`, `maxAge "${cors.maxAge}" must be whole seconds (Access-Control-Max-Age is in seconds)`);
}

function validateHeaders(headers: Headers | undefined, path: string, out: Findings): void {
  if (!headers) return;
  for (const direction of ["request", "response"] as const) {
    const operations = headers[direction];
    if (!operations) continue;
    for (const operation of ["set", "add"] as const) {
      for (const [name, value] of Object.entries(operations[operation] ?? {})) {
        const headerPath = key(`${path}.${direction}.${operation}`, name);
        if (!checkHeaderName(out, headerPath, name)) continue;
        if (/[\r\n\0]/.test(value)) out.error(headerPath, `header value for "${name}" contains a line break or NUL, which HTTP forbids`);
        if (name.startsWith(":") || name.toLowerCase() === "host") out.error(headerPath, `header "${name}" cannot be modified here: use rewrite.authority to change the host`);
      }
    }
    for (const [index, name] of (operations.remove ?? []).entries()) checkHeaderName(out, at(`${path}.${direction}.remove`, index), name);
  }
}

function validateTCPRoute(route: TCPRoute, path: string, out: Findings): void {
  if (!route.route?.length) out.error(`${path}.route`, "a tcp route needs at least one destination in route");
  for (const [index, match] of (route.match ?? []).entries()) {
    const matchPath = at(`${path}.match`, index);
    for (const [subnetIndex, subnet] of (match.destinationSubnets ?? []).entries()) {
      if (!isCidrOrIP(subnet)) out.error(at(`${matchPath}.destinationSubnets`, subnetIndex), `"${subnet}" is not an IP address or CIDR block such as 10.0.0.0/16`);
    }
    if (match.sourceSubnet !== undefined && match.sourceSubnet !== "" && !isCidrOrIP(match.sourceSubnet)) {
      out.error(`${matchPath}.sourceSubnet`, `"${match.sourceSubnet}" is not an IP address or CIDR block`);
    }
    checkPortNumber(out, `${matchPath}.port`, match.port);
    checkLabels(out, `${matchPath}.sourceLabels`, match.sourceLabels);
    checkGatewayNames(out, `${matchPath}.gateways`, match.gateways ?? []);
  }
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

/** True when `sni` is covered by a VirtualService host (exact or wildcard suffix). */
function hostCovers(vsHost: string, sni: string): boolean {
  const host = vsHost.toLowerCase();
  const name = sni.toLowerCase();
  if (host === "*" || host === name) return true;
  if (host.startsWith("*")) {
    const suffix = host.slice(1);
    return name.endsWith(suffix) && (!name.startsWith("*") || name.slice(1).endsWith(suffix));
  }
  return false;
}

function validateTLSRoute(route: TLSRoute, hosts: readonly string[], path: string, out: Findings): void {
  if (!route.match?.length) out.error(`${path}.match`, "a tls route needs at least one match with sniHosts");
  for (const [index, match] of (route.match ?? []).entries()) {
    const matchPath = at(`${path}.match`, index);
    if (!match.sniHosts?.length) out.error(`${matchPath}.sniHosts`, "a tls match needs at least one SNI host in sniHosts");
    for (const [sniIndex, sni] of (match.sniHosts ?? []).entries()) {
      const sniPath = at(`${matchPath}.sniHosts`, sniIndex);
      const problem = wildcardDomainProblem(sni);
      if (problem) {
        out.error(sniPath, problem);
        continue;
      }
      if (!hosts.some((host) => hostCovers(host, sni))) {
        out.error(sniPath, `SNI host "${sni}" is not one of the VirtualService's hosts: add it to spec.hosts or fix the name`);
      }
    }
    for (const [subnetIndex, subnet] of (match.destinationSubnets ?? []).entries()) {
      if (!isCidrOrIP(subnet)) out.error(at(`${matchPath}.destinationSubnets`, subnetIndex), `"${subnet}" is not an IP address or CIDR block such as 10.0.0.0/16`);
    }
    checkPortNumber(out, `${matchPath}.port`, match.port);
    checkLabels(out, `${matchPath}.sourceLabels`, match.sourceLabels);
    checkGatewayNames(out, `${matchPath}.gateways`, match.gateways ?? []);
  }
  if (!route.route?.length) out.error(`${path}.route`, "a tls route needs at least one destination in route");
  validateL4Destinations(route.route ?? [], `${path}.route`, out);
}
