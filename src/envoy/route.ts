import type { EnvoyJson, EnvoyResource } from "./resources.js";
import { typeUrl } from "./types.js";

export function routeConfiguration(name: string, virtualHosts: EnvoyJson[], extra: EnvoyJson = {}): EnvoyResource {
  return {
    "@type": typeUrl.routeConfiguration,
    name,
    virtual_hosts: virtualHosts,
    // Routes may name clusters that do not exist (yet): Envoy answers 503 instead of rejecting.
    validate_clusters: false,
    // `Host: name:30000` (NodePort) must match the virtual host `name`.
    ignore_port_in_host_matching: true,
    ...extra,
  };
}

export function virtualHost(name: string, domains: string[], routes: EnvoyJson[], extra: EnvoyJson = {}): EnvoyJson {
  return { name, domains, routes, ...extra };
}

/** The virtual host Istio installs when a route config has no other: everything is a 404. */
export function blackholeVirtualHost(port: number): EnvoyJson {
  return virtualHost(`blackhole:${port}`, ["*"], []);
}

export type StringMatcher = { exact: string } | { prefix: string } | { safe_regex: { regex: string } } | { present: true };

/** A header matcher: a value match, or presence when the Istio StringMatch is empty. */
export function headerMatcher(name: string, match: StringMatcher, invert = false): EnvoyJson {
  const result: EnvoyJson = { name };
  if ("present" in match) result.present_match = true;
  else result.string_match = match;
  if (invert) result.invert_match = true;
  return result;
}
