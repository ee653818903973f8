/**
 * Envoy's route matching (envoy.config.route.v3.RouteMatch) as pure functions: path specifiers,
 * header matchers, query parameter matchers and StringMatcher, each returning what it checked so
 * that a trace can say why a route did or did not match. Semantics follow Envoy 1.40's
 * source/common/router/config_impl.cc and source/common/http/header_utility.cc.
 */
import type { EnvoyJson } from "../envoy/resources.js";
import { re2FullMatch } from "../api/validation/regex.js";
import { asBoolean, asNumber, asObject, asObjects, asString, at } from "./json.js";

/** The parts of an HTTP request that route matching reads. Header names are lower case. */
export interface HttpRequestFacts {
  /** The Host / :authority header as sent (may carry a port). */
  authority: string;
  /** Path and query as sent (":path"). */
  path: string;
  method: string;
  scheme: "http" | "https";
  headers: ReadonlyArray<readonly [string, string]>;
}

/** One condition of a match and whether the request met it, in words. */
export interface Check {
  ok: boolean;
  text: string;
}

export interface MatchOutcome {
  matched: boolean;
  checks: Check[];
}

/** The path without its query string (what prefix/path/regex specifiers see). */
export function pathOnly(path: string): string {
  const index = path.indexOf("?");
  return index < 0 ? path : path.slice(0, index);
}

/** Query parameters in order, decoded as Envoy's Utility::QueryParamsMulti does. */
export function queryParameters(path: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const index = path.indexOf("?");
  if (index < 0) return out;
  for (const pair of path.slice(index + 1).split("#")[0]!.split("&")) {
    if (pair === "") continue;
    const equals = pair.indexOf("=");
    const name = decode(equals < 0 ? pair : pair.slice(0, equals));
    const value = equals < 0 ? "" : decode(pair.slice(equals + 1));
    out.set(name, [...(out.get(name) ?? []), value]);
  }
  return out;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    return text;
  }
}

/** A header's value as Envoy's matchers see it: repeated headers joined by ",", pseudo-headers included. */
export function headerValue(request: HttpRequestFacts, name: string): string | undefined {
  const lower = name.toLowerCase();
  if (lower === ":authority" || lower === "host") return request.authority;
  if (lower === ":path") return request.path;
  if (lower === ":method") return request.method;
  if (lower === ":scheme") return request.scheme;
  const values = request.headers.filter(([header]) => header === lower).map(([, value]) => value);
  return values.length === 0 ? undefined : values.join(",");
}

const quote = (text: string): string => JSON.stringify(text);

/** envoy.type.matcher.v3.StringMatcher: exact, prefix, suffix, contains or safe_regex, optionally ignoring case. */
export function matchString(matcher: EnvoyJson, value: string): { ok: boolean; text: string } {
  const ignoreCase = asBoolean(matcher.ignore_case) === true;
  const fold = (text: string): string => (ignoreCase ? text.toLowerCase() : text);
  const suffix = ignoreCase ? " (ignoring case)" : "";
  const exact = asString(matcher.exact);
  if (exact !== undefined) return { ok: fold(value) === fold(exact), text: `exact ${quote(exact)}${suffix}` };
  const prefix = asString(matcher.prefix);
  if (prefix !== undefined) return { ok: fold(value).startsWith(fold(prefix)), text: `prefix ${quote(prefix)}${suffix}` };
  const ending = asString(matcher.suffix);
  if (ending !== undefined) return { ok: fold(value).endsWith(fold(ending)), text: `suffix ${quote(ending)}${suffix}` };
  const contains = asString(matcher.contains);
  if (contains !== undefined) return { ok: fold(value).includes(fold(contains)), text: `contains ${quote(contains)}${suffix}` };
  const regex = asString(at(matcher, "safe_regex", "regex"));
  if (regex !== undefined) return { ok: re2FullMatch(regex, value) === true, text: `regex ${quote(regex)}` };
  return { ok: false, text: `an unsupported string matcher ${JSON.stringify(matcher)}` };
}

/**
 * envoy.config.route.v3.HeaderMatcher, as HeaderUtility::matchHeaders applies it: an absent
 * header matches only `present_match: false` (or, inverted, `present_match: true`) unless
 * `treat_missing_header_as_empty` makes it the empty string.
 */
export function matchHeader(matcher: EnvoyJson, request: HttpRequestFacts): Check {
  const name = asString(matcher.name) ?? "";
  const invert = asBoolean(matcher.invert_match) === true;
  const present = asBoolean(matcher.present_match);
  const actual = headerValue(request, name);
  const seen = actual === undefined ? "absent" : `is ${quote(actual)}`;
  const not = invert ? "not " : "";
  if (actual === undefined && asBoolean(matcher.treat_missing_header_as_empty) !== true) {
    const ok = present !== undefined && (invert ? present : !present);
    const wanted = present !== undefined ? (present !== invert ? "present" : "absent") : `${not}${describeValueMatcher(matcher)}`;
    return { ok, text: `header ${name} ${wanted}: ${seen}` };
  }
  const value = actual ?? "";
  if (present !== undefined) {
    return { ok: present !== invert, text: `header ${name} ${present !== invert ? "present" : "absent"}: ${seen}` };
  }
  const outcome = matchValue(matcher, value);
  return { ok: outcome.ok !== invert, text: `header ${name} ${not}${outcome.text}: ${seen}` };
}

function describeValueMatcher(matcher: EnvoyJson): string {
  return matchValue(matcher, "").text;
}

/** The value part of a HeaderMatcher: string_match, the older *_match fields, or range_match. */
function matchValue(matcher: EnvoyJson, value: string): { ok: boolean; text: string } {
  const stringMatch = asObject(matcher.string_match);
  if (stringMatch) return matchString(stringMatch, value);
  const legacy: Array<[string, string]> = [
    ["exact_match", "exact"],
    ["prefix_match", "prefix"],
    ["suffix_match", "suffix"],
    ["contains_match", "contains"],
  ];
  for (const [field, kind] of legacy) {
    const text = asString(matcher[field]);
    if (text !== undefined) return matchString({ [kind]: text }, value);
  }
  const regex = asString(at(matcher, "safe_regex_match", "regex"));
  if (regex !== undefined) return matchString({ safe_regex: { regex } }, value);
  const range = asObject(matcher.range_match);
  if (range) {
    const start = asNumber(range.start) ?? Number.NEGATIVE_INFINITY;
    const end = asNumber(range.end) ?? Number.POSITIVE_INFINITY;
    const number = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    return { ok: number >= start && number < end, text: `in [${start}, ${end})` };
  }
  // A matcher with no value condition: Envoy treats it as present_match.
  return { ok: true, text: "present" };
}

/** envoy.config.route.v3.QueryParameterMatcher: the first value of the parameter, or presence. */
export function matchQueryParameter(matcher: EnvoyJson, request: HttpRequestFacts): Check {
  const name = asString(matcher.name) ?? "";
  const values = queryParameters(request.path).get(name);
  const seen = values === undefined ? "absent" : `is ${quote(values[0] ?? "")}`;
  if (asBoolean(matcher.present_match) === true) return { ok: values !== undefined, text: `query ${name} present: ${seen}` };
  const stringMatch = asObject(matcher.string_match);
  if (!stringMatch) return { ok: values !== undefined, text: `query ${name} present: ${seen}` };
  if (values === undefined) return { ok: false, text: `query ${name} ${matchString(stringMatch, "").text}: absent` };
  const outcome = matchString(stringMatch, values[0] ?? "");
  return { ok: outcome.ok, text: `query ${name} ${outcome.text}: ${seen}` };
}

/** The path specifier of a RouteMatch. `case_sensitive: false` applies to prefix and path only (Envoy ignores it for regexes). */
export function matchPath(match: EnvoyJson, request: HttpRequestFacts): Check {
  const path = pathOnly(request.path);
  const caseSensitive = asBoolean(match.case_sensitive) !== false;
  const fold = (text: string): string => (caseSensitive ? text : text.toLowerCase());
  const suffix = caseSensitive ? "" : " (ignoring case)";
  const prefix = asString(match.prefix);
  if (prefix !== undefined) return { ok: fold(path).startsWith(fold(prefix)), text: `path prefix ${quote(prefix)}${suffix}: path is ${quote(path)}` };
  const exact = asString(match.path);
  if (exact !== undefined) return { ok: fold(path) === fold(exact), text: `path exact ${quote(exact)}${suffix}: path is ${quote(path)}` };
  const separated = asString(match.path_separated_prefix);
  if (separated !== undefined) {
    const head = fold(path).slice(0, separated.length);
    const next = path.charAt(separated.length);
    const ok = head === fold(separated) && (next === "" || next === "/");
    return { ok, text: `path segment prefix ${quote(separated)}${suffix}: path is ${quote(path)}` };
  }
  const regex = asString(at(match, "safe_regex", "regex"));
  if (regex !== undefined) {
    const ignored = caseSensitive ? "" : " (Envoy ignores case_sensitive for regexes: case counts)";
    return { ok: re2FullMatch(regex, path) === true, text: `path regex ${quote(regex)}${ignored}: path is ${quote(path)}` };
  }
  return { ok: false, text: `a path specifier pilotfish explain does not evaluate (${Object.keys(match).join(", ")})` };
}

/** A whole RouteMatch: path, then every header, then every query parameter, then gRPC. */
export function matchRoute(match: EnvoyJson, request: HttpRequestFacts): MatchOutcome {
  const checks: Check[] = [matchPath(match, request)];
  for (const header of asObjects(match.headers)) checks.push(matchHeader(header, request));
  for (const parameter of asObjects(match.query_parameters)) checks.push(matchQueryParameter(parameter, request));
  if (asObject(match.grpc)) {
    const contentType = headerValue(request, "content-type") ?? "";
    checks.push({ ok: contentType.startsWith("application/grpc"), text: `gRPC request (content-type application/grpc): content-type is ${quote(contentType)}` });
  }
  if (asObject(match.runtime_fraction)) checks.push({ ok: true, text: "runtime_fraction: a share of requests only (assumed to match)" });
  return { matched: checks.every((check) => check.ok), checks };
}
