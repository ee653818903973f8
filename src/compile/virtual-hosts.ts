/**
 * Virtual hosts for one route configuration: every HTTP server sharing it contributes the hosts
 * its bound VirtualServices serve, with their routes in order. Hosts served by several
 * VirtualServices get one virtual host with the routes of each, in precedence order (Envoy
 * rejects duplicate domains).
 */
import type { CompileOptions, Diagnostic } from "./output.js";
import type { EnvoyJson, EnvoyResource } from "../envoy/resources.js";
import type { Snapshot } from "../model/snapshot.js";
import type { GatewayProxy } from "../model/proxy.js";
import type { Gateway, Server, VirtualService } from "../model/istio.js";
import type { BoundVirtualService, ClusterRef } from "./filter-chains/types.js";
import { blackholeVirtualHost, routeConfiguration, virtualHost } from "../envoy/route.js";
import { parseServerHost } from "./hosts.js";
import { namespaceOf, resourceKey } from "./binding.js";
import { consistentHashFor, destinationWarnings, resolveDestination } from "./clusters.js";
import { routeHashPolicy } from "./cluster-policy.js";
import { translateHttpRoute } from "./http-routes.js";
import type { TranslatedRoutes } from "./http-routes.js";
import { reuseOrBuild, setNewest } from "./lookups.js";
import type { Memo } from "./lookups.js";
import { freezeDeep } from "../envoy/immutable.js";
import { meshConfig } from "./mesh.js";

export interface HttpServerInput {
  gateway: Gateway;
  server: Server;
  virtualServices: readonly BoundVirtualService[];
}

export interface BuiltRouteConfiguration {
  routeConfiguration: EnvoyResource;
  clusterRefs: ClusterRef[];
  diagnostics: Diagnostic[];
}

interface HostEntry {
  host: string;
  serverPort: number;
  /** The translations of the VirtualServices serving the host, in precedence order. */
  translations: TranslatedVirtualService[];
  requireTls: boolean;
  sources: Set<string>;
}

/**
 * istiod's `IsCatchAllRoute`: a route whose path match is prefix `/` (or regex `.*`) with no
 * header, query parameter or metadata match.
 */
export function isCatchAllRoute(route: EnvoyJson): boolean {
  const match = (route.match ?? {}) as EnvoyJson;
  const regex = (match.safe_regex as EnvoyJson | undefined)?.regex;
  const path = match.prefix === "/" || match.path_separated_prefix === "/" || regex === ".*";
  return path && match.headers === undefined && match.query_parameters === undefined && match.dynamic_metadata === undefined;
}

/** istiod's `SortVHostRoutes`: catch-all routes (from several VirtualServices) go last, others keep their order. */
function catchAllLast(routes: EnvoyJson[]): EnvoyJson[] {
  return [...routes.filter((route) => !isCatchAllRoute(route)), ...routes.filter(isCatchAllRoute)];
}

/**
 * What one VirtualService contributes to a route configuration through one server: its
 * translated rules, and the diagnostics its translation reported, in order. Deeply frozen and
 * memoised across compiles (see translateVirtualService).
 */
interface TranslatedVirtualService {
  readonly results: readonly TranslatedRoutes[];
  /** Diagnostics reported while translating (destination resolution, unreachable rules), in order. */
  readonly inlineDiagnostics: readonly Diagnostic[];
}

interface TranslationContext {
  serverPort: number;
  gatewayKey: string;
  serverIsTls: boolean;
  proxy: GatewayProxy | undefined;
  options: CompileOptions;
  /** Everything above as one string: a memoised translation is for one context. */
  key: string;
}

/**
 * Translations by VirtualService object, then by context key. An entry is reused only while
 * every snapshot look-up its translation made still returns the same (lookups.ts); the
 * VirtualService itself is the key, and an unchanged one is the same object (informers replace,
 * never edit). A WeakMap: entries go with their VirtualService. Cannot change a result.
 */
const translations = new WeakMap<VirtualService, Map<string, Memo<TranslatedVirtualService>>>();
/** Contexts kept per VirtualService (a VirtualService bound to more servers is translated again). */
const contextsPerVirtualService = 8;

function translationContext(gateway: Gateway, server: Server, options: CompileOptions, proxy: GatewayProxy | undefined, optionsKey: string): TranslationContext {
  const serverPort = server.port.number;
  const gatewayKey = resourceKey(gateway);
  const serverIsTls = server.tls !== undefined;
  const key = JSON.stringify([serverPort, gatewayKey, serverIsTls, proxy?.labels ?? null, proxy?.namespace ?? null, optionsKey]);
  return { serverPort, gatewayKey, serverIsTls, proxy, options, key };
}

function translateVirtualService(virtualService: VirtualService, context: TranslationContext, snapshot: Snapshot): TranslatedVirtualService {
  return reuseOrBuild(
    snapshot,
    translations.get(virtualService)?.get(context.key),
    (view) => translateUncached(virtualService, context, view),
    (memo) => {
      let byContext = translations.get(virtualService);
      if (!byContext) translations.set(virtualService, (byContext = new Map()));
      setNewest(byContext, context.key, memo, contextsPerVirtualService);
    },
  );
}

function translateUncached(virtualService: VirtualService, context: TranslationContext, snapshot: Snapshot): TranslatedVirtualService {
  const { serverPort, proxy, options } = context;
  const inlineDiagnostics: Diagnostic[] = [];
  const results: TranslatedRoutes[] = [];
  const rules = virtualService.spec.http ?? [];
  for (const [index, rule] of rules.entries()) {
    const field = `spec.http[${index}]`;
    const result = translateHttpRoute(rule, {
      virtualService,
      field,
      serverPort,
      gatewayKey: context.gatewayKey,
      serverIsTls: context.serverIsTls,
      proxyLabels: proxy?.labels,
      proxyNamespace: proxy?.namespace,
      options,
      resolve: (destination, destinationField) => {
        const resolution = resolveDestination(snapshot, destination, virtualService, destinationField, serverPort);
        if ("cluster" in resolution && resolution.warning) inlineDiagnostics.push(resolution.warning);
        if ("cluster" in resolution) inlineDiagnostics.push(...destinationWarnings(snapshot, resolution.cluster, virtualService, destinationField));
        return resolution;
      },
      hashPolicyFor: (ref) => routeHashPolicy(consistentHashFor(snapshot, ref)),
    });
    // istiod (route.go BuildHTTPRoutesForVirtualService) stops after the first route that
    // matches every request: later routes could never be reached.
    const catchAll = result.routes.findIndex(isCatchAllRoute);
    if (catchAll >= 0) result.routes.length = catchAll + 1;
    results.push(result);
    if (catchAll >= 0 && index + 1 < rules.length) {
      inlineDiagnostics.push({
        severity: "warning",
        kind: "VirtualService",
        namespace: namespaceOf(virtualService),
        name: virtualService.metadata.name,
        field: `spec.http[${index + 1}]`,
        message: `unreachable: ${field} matches every request on port ${serverPort}; the ${rules.length - index - 1} rule(s) after it are not compiled (like istiod)`,
      });
      break;
    }
  }
  return { results, inlineDiagnostics };
}

/**
 * A virtual host built from memoised translations, reused (the same object) while its host,
 * settings and translations are the same objects, so the store can cache per-host work by
 * identity. Keyed by the first translation; `collapseKey` is collapseVirtualHosts' key for it.
 */
interface MemoisedVirtualHost {
  sources: readonly TranslatedVirtualService[];
  virtualHost: EnvoyJson;
  collapseKey: string;
}
const virtualHosts = new WeakMap<TranslatedVirtualService, Map<string, MemoisedVirtualHost>>();

function sameSources(a: readonly TranslatedVirtualService[], b: readonly TranslatedVirtualService[]): boolean {
  return a.length === b.length && a.every((source, index) => source === b[index]);
}

function buildVirtualHost(entry: HostEntry, includeRequestAttemptCount: boolean): { virtualHost: EnvoyJson; collapseKey: string } {
  const first = entry.translations[0];
  const key = `${entry.host}\u0000${entry.serverPort}\u0000${entry.requireTls}\u0000${includeRequestAttemptCount}`;
  const memo = first === undefined ? undefined : virtualHosts.get(first)?.get(key);
  if (memo && sameSources(memo.sources, entry.translations)) return memo;

  const extra: EnvoyJson = {};
  if (entry.requireTls) extra.require_tls = "ALL";
  if (includeRequestAttemptCount) extra.include_request_attempt_count = true;
  const routes = entry.translations.flatMap((translation) => translation.results.flatMap((result) => result.routes));
  const built = { virtualHost: freezeDeep(virtualHost(`${entry.host}:${entry.serverPort}`, [entry.host], catchAllLast(routes), extra)), collapseKey: "" };
  built.collapseKey = collapseKey(built.virtualHost);
  if (first !== undefined) {
    let byKey = virtualHosts.get(first);
    if (!byKey) {
      byKey = new Map();
      virtualHosts.set(first, byKey);
    }
    byKey.set(key, { sources: entry.translations, ...built });
  }
  return built;
}

export function buildRouteConfiguration(
  name: string,
  servers: readonly HttpServerInput[],
  snapshot: Snapshot,
  options: CompileOptions,
  proxy?: GatewayProxy,
): BuiltRouteConfiguration {
  const clusterRefs: ClusterRef[] = [];
  const diagnostics: Diagnostic[] = [];
  const mesh = meshConfig(options);
  const optionsKey = JSON.stringify(options);
  const hosts = new Map<string, HostEntry>();
  const entryFor = (host: string, serverPort: number): HostEntry => {
    const key = host.toLowerCase();
    let entry = hosts.get(key);
    if (!entry) {
      entry = { host, serverPort, translations: [], requireTls: false, sources: new Set() };
      hosts.set(key, entry);
    }
    return entry;
  };

  for (const { gateway, server, virtualServices } of servers) {
    const serverPort = server.port.number;
    const httpsRedirect = server.tls?.httpsRedirect === true;
    const context = translationContext(gateway, server, options, proxy, optionsKey);
    for (const { virtualService, hosts: served } of virtualServices) {
      const vsKey = resourceKey(virtualService);
      // One VirtualService reached through two servers of a port contributes its routes once.
      const translated = translateVirtualService(virtualService, context, snapshot);
      diagnostics.push(...translated.inlineDiagnostics);
      for (const host of served) {
        const entry = entryFor(host, serverPort);
        if (httpsRedirect) entry.requireTls = true;
        if (entry.sources.has(vsKey)) continue;
        entry.sources.add(vsKey);
        entry.translations.push(translated);
      }
      for (const result of translated.results) {
        clusterRefs.push(...result.clusterRefs);
        diagnostics.push(...result.diagnostics);
      }
    }
    if (httpsRedirect) {
      // Istio redirects every host of the server, including hosts no VirtualService serves.
      for (const text of server.hosts ?? []) entryFor(parseServerHost(text, namespaceOf(gateway)).host, serverPort).requireTls = true;
    }
  }

  const built = [...hosts.values()]
    .filter((entry) => entry.translations.some((translation) => translation.results.some((result) => result.routes.length > 0)) || entry.requireTls)
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))
    .map((entry) => buildVirtualHost(entry, mesh.includeRequestAttemptCount));
  const keys = new Map(built.map(({ virtualHost, collapseKey }) => [virtualHost, collapseKey]));
  const virtualHostList = collapseVirtualHosts(
    built.map(({ virtualHost }) => virtualHost),
    (host) => keys.get(host) ?? collapseKey(host),
  );
  const firstPort = servers[0]?.server.port.number ?? 0;
  if (virtualHostList.length === 0) virtualHostList.push(blackholeVirtualHost(firstPort));

  const extra: EnvoyJson = { max_direct_response_body_size_bytes: mesh.maxDirectResponseBodySizeBytes };
  return { routeConfiguration: routeConfiguration(name, virtualHostList, extra), clusterRefs, diagnostics };
}

/** Virtual hosts with equal keys have identical routes and settings (see collapseVirtualHosts). */
function collapseKey(host: EnvoyJson): string {
  return JSON.stringify([host.routes, host.require_tls ?? null, host.include_request_attempt_count ?? null]);
}

/**
 * istiod's `collapseDuplicateRoutes` (gateway.go, PILOT_ENABLE_ROUTE_COLLAPSE_OPTIMIZATION on by
 * default): virtual hosts whose routes, `require_tls` and attempt-count setting are identical
 * become one, named after the first host alphabetically, with the others' domains appended.
 * Input sorted by host; traffic is unchanged, the config shrinks.
 */
export function collapseVirtualHosts(virtualHosts: EnvoyJson[], keyOf: (host: EnvoyJson) => string = collapseKey): EnvoyJson[] {
  const byKey = new Map<string, number>();
  const result: EnvoyJson[] = [];
  const copies = new Set<EnvoyJson>();
  for (const host of virtualHosts) {
    const key = keyOf(host);
    const index = byKey.get(key);
    if (index === undefined) {
      // Kept as is (the same object, so per-host caches downstream hold) until another joins it.
      byKey.set(key, result.length);
      result.push(host);
      continue;
    }
    let primary = result[index]!;
    if (!copies.has(primary)) {
      primary = { ...primary };
      copies.add(primary);
      result[index] = primary;
    }
    primary.domains = [...(primary.domains as string[]), ...(host.domains as string[])];
  }
  return result;
}
