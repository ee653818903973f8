/**
 * HTTPS servers that terminate TLS (SIMPLE, MUTUAL, OPTIONAL_MUTUAL): one filter chain per
 * server, selected by SNI (`server_names` = the server's hosts without `ns/`), with the server's
 * own certificate and its own route configuration
 * `https.<server port number>.<server port name>.<gateway>.<namespace>` (Istio's name: the
 * Gateway's port number, not the listener's). Several HTTPS servers on one port therefore each
 * present their own certificate, chosen by the client's SNI.
 */
import type { EnvoyJson } from "../../envoy/resources.js";
import type { ServerFilterChainBuilder, ServerFilterChains } from "./types.js";
import { namespaceOf } from "../binding.js";
import { downstreamTls, serverNames } from "../tls/downstream.js";

export function httpsRouteConfigName(serverPort: number, serverPortName: string, gatewayName: string, gatewayNamespace: string): string {
  return `https.${serverPort}.${serverPortName}.${gatewayName}.${gatewayNamespace}`;
}

export const buildHttpsServer: ServerFilterChainBuilder = (ctx): ServerFilterChains => {
  const tls = downstreamTls(ctx);
  if (!tls.ok) return { filterChains: [], diagnostics: tls.diagnostics };

  const routeName = httpsRouteConfigName(ctx.server.port.number, ctx.server.port.name, ctx.gateway.metadata.name, namespaceOf(ctx.gateway));
  const routes = ctx.routeConfiguration(routeName);
  const match: EnvoyJson = {};
  const names = serverNames(ctx.hostNames);
  if (names) match.server_names = names;

  const filterChain: EnvoyJson = {
    filter_chain_match: match,
    transport_socket: tls.tls.transportSocket,
    // istiod names the HTTPS HCM's stats after the server's `name`.
    filters: [ctx.httpConnectionManager(routeName, ctx.server.name || `outbound_0.0.0.0_${ctx.listenerPort}`)],
  };
  return {
    filterChains: [filterChain],
    routes: [routes.routeConfiguration],
    secrets: tls.tls.secrets,
    clusterRefs: routes.clusterRefs,
    diagnostics: [...tls.diagnostics, ...routes.diagnostics],
  };
};
