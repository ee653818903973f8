/**
 * TLS passthrough servers (mode PASSTHROUGH): TLS is not terminated; the client's SNI picks the
 * upstream. One filter chain per VirtualService `tls` route match, keyed on its `sniHosts`
 * (those the server's hosts cover), with a tcp_proxy to the route's weighted destinations. The
 * listener gets the tls_inspector filter that reads SNI (added by listener assembly whenever a
 * chain matches on server_names). An SNI name already claimed by an earlier route (Istio's
 * precedence: older VirtualService first, then rule order) is skipped with a warning, as Istio
 * does.
 *
 * AUTO_PASSTHROUGH (SNI `outbound_.<port>_.<subset>_.<host>` to any mesh service) needs clusters
 * for services nothing routes to, which this gateway compiler does not send; it is reported.
 */
import type { Diagnostic } from "../output.js";
import type { EnvoyJson } from "../../envoy/resources.js";
import type { ClusterRef, ServerFilterChainBuilder, ServerFilterChains } from "./types.js";
import { namespaceOf } from "../binding.js";
import { covers } from "../hosts.js";
import { l4MatchApplies, weightedTcpProxy } from "./l4-routes.js";

function vsDiagnostic(
  virtualService: { metadata: { name: string; namespace?: string } },
  severity: Diagnostic["severity"],
  field: string,
  message: string,
): Diagnostic {
  return { severity, kind: "VirtualService", namespace: namespaceOf(virtualService), name: virtualService.metadata.name, field, message };
}

export const buildPassthroughServer: ServerFilterChainBuilder = (ctx): ServerFilterChains => {
  if ((ctx.server.tls?.mode ?? "") === "AUTO_PASSTHROUGH") {
    return {
      filterChains: [],
      diagnostics: [ctx.serverDiagnostic("warning", "tls.mode", "AUTO_PASSTHROUGH is not compiled yet (it needs clusters for every mesh service); server skipped")],
    };
  }
  const filterChains: EnvoyJson[] = [];
  const clusterRefs: ClusterRef[] = [];
  const diagnostics: Diagnostic[] = [];
  const claimed = new Map<string, string>();

  for (const { virtualService } of ctx.virtualServices) {
    const owner = `${namespaceOf(virtualService)}/${virtualService.metadata.name}`;
    (virtualService.spec.tls ?? []).forEach((route, routeIndex) => {
      const routeField = `spec.tls[${routeIndex}]`;
      (route.match ?? []).forEach((match, matchIndex) => {
        if (!l4MatchApplies(match, virtualService, ctx)) return;
        const matchField = `${routeField}.match[${matchIndex}].sniHosts`;
        const names: string[] = [];
        for (const sni of match.sniHosts ?? []) {
          const name = sni.toLowerCase();
          if (!ctx.hostNames.some((host) => covers(host, name))) continue;
          const previous = claimed.get(name);
          if (previous !== undefined) {
            diagnostics.push(
              vsDiagnostic(virtualService, "warning", matchField, `SNI ${name} on port ${ctx.server.port.number} is already routed by ${previous}; this match is skipped for it`),
            );
            continue;
          }
          if (!names.includes(name)) names.push(name);
        }
        if (names.length === 0) return;
        const proxy = weightedTcpProxy(ctx, virtualService, route.route ?? [], `${routeField}.route`);
        diagnostics.push(...proxy.diagnostics);
        if (!proxy.filter) {
          diagnostics.push(vsDiagnostic(virtualService, "warning", `${routeField}.route`, "TLS route has no usable destination; skipped"));
          return;
        }
        for (const name of names) claimed.set(name, owner);
        clusterRefs.push(...proxy.clusterRefs);
        filterChains.push({ filter_chain_match: { server_names: names.sort() }, filters: [proxy.filter] });
      });
    });
  }
  if (filterChains.length === 0) {
    diagnostics.push(ctx.serverDiagnostic("warning", "", "no VirtualService tls route matches this passthrough server; it accepts no connections"));
  }
  return { filterChains, clusterRefs, diagnostics };
};
