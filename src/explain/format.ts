/** An Explanation for a person: the decisions first, then every reason in the order Envoy took them. */
import type { Explanation } from "./trace.js";

export interface Style {
  good(text: string): string;
  bad(text: string): string;
  dim(text: string): string;
}

export const plainStyle: Style = { good: (t) => t, bad: (t) => t, dim: (t) => t };

/** ANSI colours, for a TTY only (the CLI decides). */
export const ansiStyle: Style = {
  good: (t) => `\u001b[32m${t}\u001b[0m`,
  bad: (t) => `\u001b[31m${t}\u001b[0m`,
  dim: (t) => `\u001b[2m${t}\u001b[0m`,
};

const served = new Set(["route", "redirect", "direct_response", "tcp_proxy"]);

export function renderExplanation(explanation: Explanation, style: Style = plainStyle): string {
  const lines: string[] = [];
  const status = explanation.status !== undefined ? ` ${explanation.status}` : "";
  const location = explanation.location !== undefined ? ` → ${explanation.location}` : "";
  const verdict = `${explanation.verdict}${status}${location}`;
  const healthy = served.has(explanation.verdict) && (explanation.status === undefined || explanation.status < 500);
  lines.push(`verdict:       ${healthy ? style.good(verdict) : style.bad(verdict)}`);
  lines.push(`listener:      ${explanation.listener}`);
  if (explanation.filterChain !== undefined) lines.push(`filter chain:  ${explanation.filterChain}`);
  if (explanation.secret !== undefined) lines.push(`secret:        ${explanation.secret}`);
  if (explanation.routeConfig !== undefined) lines.push(`route config:  ${explanation.routeConfig}`);
  if (explanation.virtualHost !== undefined) lines.push(`virtual host:  ${explanation.virtualHost}`);
  if (explanation.route) lines.push(`route:         #${explanation.route.index}${explanation.route.name !== undefined ? ` ${explanation.route.name}` : ""} ${style.dim(JSON.stringify(explanation.route.match))}`);
  if (explanation.clusters) lines.push(`clusters:      ${explanation.clusters.map((c) => (explanation.clusters!.length > 1 ? `${c.name} (${c.weight})` : c.name)).join(", ")}`);
  lines.push("why:");
  explanation.reasons.forEach((reason, index) => lines.push(`  ${String(index + 1).padStart(2)}. ${reason}`));
  return `${lines.join("\n")}\n`;
}

/** The Explanation with its keys in the documented order (verdict first, reasons last), for -o json. */
export function explanationJson(explanation: Explanation): Explanation {
  const { verdict, status, location, listener, filterChain, routeConfig, virtualHost, route, clusters, secret, reasons } = explanation;
  return {
    verdict,
    ...(status !== undefined ? { status } : {}),
    ...(location !== undefined ? { location } : {}),
    listener,
    ...(filterChain !== undefined ? { filterChain } : {}),
    ...(routeConfig !== undefined ? { routeConfig } : {}),
    ...(virtualHost !== undefined ? { virtualHost } : {}),
    ...(route !== undefined ? { route } : {}),
    ...(clusters !== undefined ? { clusters } : {}),
    ...(secret !== undefined ? { secret } : {}),
    reasons,
  };
}
