/**
 * Plain TCP servers: the first VirtualService `tcp` route (VirtualServices in Istio's precedence
 * order, routes as written) whose match applies to this server — its `port` equals the server's
 * port number and its `gateways`, if any, name this Gateway; a route without matches applies to
 * every port — carries all connections, through a tcp_proxy to its weighted destinations.
 */
import type { Diagnostic } from "../output.js";
import type { ServerFilterChainBuilder, ServerFilterChains } from "./types.js";
import { l4MatchApplies, weightedTcpProxy } from "./l4-routes.js";

export const buildTcpServer: ServerFilterChainBuilder = (ctx): ServerFilterChains => {
  const diagnostics: Diagnostic[] = [];
  for (const { virtualService } of ctx.virtualServices) {
    const routes = virtualService.spec.tcp ?? [];
    for (const [routeIndex, route] of routes.entries()) {
      const matches = route.match ?? [];
      if (matches.length > 0 && !matches.some((match) => l4MatchApplies(match, virtualService, ctx))) continue;
      const proxy = weightedTcpProxy(ctx, virtualService, route.route ?? [], `spec.tcp[${routeIndex}].route`);
      diagnostics.push(...proxy.diagnostics);
      if (!proxy.filter) continue; // Istio also moves on when a route resolves to nothing
      return { filterChains: [{ filters: [proxy.filter] }], clusterRefs: proxy.clusterRefs, diagnostics };
    }
  }
  diagnostics.push(ctx.serverDiagnostic("warning", "", `no VirtualService tcp route matches port ${ctx.server.port.number} of this server; it accepts no connections`));
  return { filterChains: [], diagnostics };
};
