/**
 * Envoy's two "which one applies" decisions before routing: the filter chain of a listener
 * (FilterChainManagerImpl: destination port, server name, transport protocol, application
 * protocols, most specific first) and the virtual host of a route configuration
 * (RouteMatcher::findVirtualHost: exact, then suffix wildcards longest first, then prefix
 * wildcards longest first, then "*").
 */
import type { EnvoyJson } from "../envoy/resources.js";
import { asNumber, asObject, asObjects, asString, asStrings } from "./json.js";

export interface ConnectionFacts {
  /** The port the connection reached on the listener. */
  port: number;
  /** SNI, when the client speaks TLS and sends one. */
  sni?: string;
  /** "tls" when the client starts with a ClientHello (TLS inspector), "raw_buffer" otherwise. */
  transportProtocol: "tls" | "raw_buffer";
  /** ALPN the client offers (curl over TLS: h2 and http/1.1). */
  applicationProtocols: readonly string[];
}

export interface ChainChoice {
  chain: EnvoyJson | undefined;
  /** Index in filter_chains, or -1 for default_filter_chain. */
  index: number;
  reasons: string[];
}

/** How a chain's server_names match an SNI: 0 no, larger is more specific. Exact beats any wildcard. */
function serverNameScore(names: readonly string[], sni: string | undefined): number {
  if (names.length === 0) return 0;
  if (sni === undefined) return -1;
  const host = sni.toLowerCase();
  let best = -1;
  for (const name of names.map((n) => n.toLowerCase())) {
    if (name === host) return Number.MAX_SAFE_INTEGER;
    if (name.startsWith("*.") && host.endsWith(name.slice(1)) && host.length > name.length - 1) best = Math.max(best, name.length);
  }
  return best;
}

function describeMatch(match: EnvoyJson | undefined): string {
  if (!match || Object.keys(match).length === 0) return "no filter_chain_match (matches any connection)";
  return Object.entries(match)
    .map(([key, value]) => `${key} ${JSON.stringify(value)}`)
    .join(", ");
}

export function describeChain(chain: EnvoyJson, index: number): string {
  const name = asString(chain.name);
  const label = name ?? (index < 0 ? "default_filter_chain" : `filter_chains[${index}]`);
  return `${label} (${describeMatch(asObject(chain.filter_chain_match))})`;
}

/** Keeps the candidates that are most specific for one criterion; chains without it are the fallback. */
function narrow<T>(candidates: T[], score: (candidate: T) => number): T[] {
  const scored = candidates.map((candidate) => ({ candidate, score: score(candidate) })).filter((entry) => entry.score >= 0);
  const best = Math.max(-1, ...scored.map((entry) => entry.score));
  return scored.filter((entry) => entry.score === best).map((entry) => entry.candidate);
}

export function selectFilterChain(listener: EnvoyJson, connection: ConnectionFacts): ChainChoice {
  const chains = asObjects(listener.filter_chains).map((chain, index) => ({ chain, index, match: asObject(chain.filter_chain_match) ?? {} }));
  let candidates = narrow(chains, ({ match }) => {
    const port = asNumber(match.destination_port);
    return port === undefined ? 0 : port === connection.port ? 1 : -1;
  });
  candidates = narrow(candidates, ({ match }) => serverNameScore(asStrings(match.server_names), connection.sni));
  candidates = narrow(candidates, ({ match }) => {
    const transport = asString(match.transport_protocol);
    return transport === undefined || transport === "" ? 0 : transport === connection.transportProtocol ? 1 : -1;
  });
  candidates = narrow(candidates, ({ match }) => {
    const protocols = asStrings(match.application_protocols);
    if (protocols.length === 0) return 0;
    return protocols.some((protocol) => connection.applicationProtocols.includes(protocol)) ? 1 : -1;
  });
  const sniText = connection.sni === undefined ? "no SNI" : `SNI ${connection.sni}`;
  const facts = `${connection.transportProtocol === "tls" ? "TLS" : "plaintext"} connection, ${sniText}, port ${connection.port}`;
  const chosen = candidates[0];
  if (chosen) return { chain: chosen.chain, index: chosen.index, reasons: [`filter chain ${describeChain(chosen.chain, chosen.index)} matches the ${facts}`] };
  const fallback = asObject(listener.default_filter_chain);
  if (fallback) return { chain: fallback, index: -1, reasons: [`no filter chain matches the ${facts}; the listener's default_filter_chain takes it`] };
  const known = chains.map(({ chain, index }) => describeChain(chain, index)).join("; ");
  return { chain: undefined, index: -1, reasons: [`no filter chain matches the ${facts}: Envoy closes the connection (chains: ${known || "none"})`] };
}

export interface VirtualHostChoice {
  virtualHost: EnvoyJson | undefined;
  /** The host name as matched (lower case, port stripped when the config says so). */
  matchedHost: string;
  reasons: string[];
}

/** Splits "host:port" (and "[v6]:port"); the port is undefined when there is none. */
export function splitHostPort(authority: string): { host: string; port?: number } {
  const bracketed = /^(\[[^\]]*\])(?::(\d+))?$/.exec(authority);
  if (bracketed) return { host: bracketed[1] ?? authority, ...(bracketed[2] ? { port: Number(bracketed[2]) } : {}) };
  const match = /^([^:]*):(\d+)$/.exec(authority);
  return match ? { host: match[1] ?? authority, port: Number(match[2]) } : { host: authority };
}

/** Which domain pattern of a list matches a host, and how ("exact", "suffix", "prefix", "any"), best first. */
export function domainMatch(domain: string, host: string): { kind: "exact" | "suffix" | "prefix" | "any"; length: number } | undefined {
  const pattern = domain.toLowerCase();
  if (pattern === "*") return { kind: "any", length: 0 };
  if (pattern.startsWith("*")) {
    const suffix = pattern.slice(1);
    return host.endsWith(suffix) && host.length > suffix.length ? { kind: "suffix", length: suffix.length } : undefined;
  }
  if (pattern.endsWith("*")) {
    const prefix = pattern.slice(0, -1);
    return host.startsWith(prefix) && host.length > prefix.length ? { kind: "prefix", length: prefix.length } : undefined;
  }
  return pattern === host ? { kind: "exact", length: pattern.length } : undefined;
}

const kindRank = { exact: 3, suffix: 2, prefix: 1, any: 0 } as const;

export function selectVirtualHost(routeConfiguration: EnvoyJson, authority: string, stripPort: boolean): VirtualHostChoice {
  const reasons: string[] = [];
  let host = authority.toLowerCase();
  const { host: bare, port } = splitHostPort(host);
  if (port !== undefined && stripPort) {
    host = bare;
    reasons.push(`the port in Host ${authority} is ignored for virtual host matching (ignore_port_in_host_matching)`);
  }
  let best: { virtualHost: EnvoyJson; domain: string; kind: keyof typeof kindRank; length: number } | undefined;
  for (const virtualHost of asObjects(routeConfiguration.virtual_hosts)) {
    for (const domain of asStrings(virtualHost.domains)) {
      const match = domainMatch(domain, host);
      if (!match) continue;
      const better = !best || kindRank[match.kind] > kindRank[best.kind] || (match.kind === best.kind && match.length > best.length);
      if (better) best = { virtualHost, domain, ...match };
    }
  }
  if (!best) return { virtualHost: undefined, matchedHost: host, reasons: [...reasons, `no virtual host has a domain matching ${host}: Envoy answers 404`] };
  const how = { exact: "exactly", suffix: "as a suffix wildcard", prefix: "as a prefix wildcard", any: "as the catch-all" }[best.kind];
  reasons.push(`virtual host ${asString(best.virtualHost.name) ?? "<unnamed>"}: domain ${JSON.stringify(best.domain)} matches ${host} ${how}`);
  return { virtualHost: best.virtualHost, matchedHost: host, reasons };
}
