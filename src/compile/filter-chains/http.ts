/**
 * Plain HTTP servers: every HTTP server on a listener port shares one filter chain, an HCM over
 * RDS with the route configuration `http.<listener port>`.
 */
import type { CompileOptions, Diagnostic } from "../output.js";
import type { EnvoyJson, EnvoyResource } from "../../envoy/resources.js";
import type { Snapshot } from "../../model/snapshot.js";
import type { GatewayProxy } from "../../model/proxy.js";
import type { ClusterRef } from "./types.js";
import { httpConnectionManager } from "../../envoy/listener.js";
import { buildRouteConfiguration } from "../virtual-hosts.js";
import { hcmSettings, meshConfig } from "../mesh.js";
import type { HttpServerInput } from "../virtual-hosts.js";

export interface HttpPortResult {
  filterChain: EnvoyJson;
  route: EnvoyResource;
  clusterRefs: ClusterRef[];
  diagnostics: Diagnostic[];
}

export function httpRouteConfigName(listenerPort: number): string {
  return `http.${listenerPort}`;
}

export function buildHttpPort(listenerPort: number, servers: readonly HttpServerInput[], snapshot: Snapshot, options: CompileOptions, proxy?: GatewayProxy): HttpPortResult {
  const name = httpRouteConfigName(listenerPort);
  const built = buildRouteConfiguration(name, servers, snapshot, options, proxy);
  return {
    filterChain: { filters: [httpConnectionManager(name, `outbound_0.0.0.0_${listenerPort}`, hcmSettings(meshConfig(options)))] },
    route: built.routeConfiguration,
    clusterRefs: built.clusterRefs,
    diagnostics: built.diagnostics,
  };
}
