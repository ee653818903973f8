import type { Command } from "commander";
import { dump } from "js-yaml";
import { matchesProxy, proxyName, proxyStatusTable, renderTable } from "../../explain/tables.js";
import type { SyncStatusJson } from "../../explain/tables.js";
import { adminBaseUrl, fetchText } from "./inspect-sources.js";

const examples = `
Examples:
  # every proxy connected to the operator's ADS (the operator's default debug address)
  pilotfish proxy-status
  # one gateway, by pod or by Deployment, from an operator elsewhere
  pilotfish proxy-status deploy/istio-ingressgateway.istio-system --xds-debug-addr 10.0.0.7:15011
  pilotfish proxy-status -o json

Status per type: SYNCED (Envoy ACKed the current config), STALE (sent, not ACKed yet, or the config
changed since), NACKED (Envoy rejected it; -o json shows its message), NOT SENT.
Exit codes: 0 listed (even if some proxies are not SYNCED), 1 the operator's debug endpoint cannot be read
or PROXY is not connected.`;

export function registerProxyStatusCommand(program: Command): void {
  program
    .command("proxy-status")
    .argument("[proxy]", "a pod (name.namespace), a Deployment (deploy/name.namespace) or a proxy key (namespace/name)")
    .description("the xDS sync state of each proxy connected to the operator (CDS, LDS, EDS, RDS, SDS), from its /debug/syncz")
    .option("--xds-debug-addr <host:port>", "the operator's xDS debug address (operator --xds-debug-addr)", "127.0.0.1:15011")
    .option("-o, --output <format>", "table, json or yaml", "table")
    .addHelpText("after", examples)
    .action(async (proxy: string | undefined, options: { xdsDebugAddr: string; output: string }) => {
      if (!["table", "json", "yaml"].includes(options.output)) throw new Error(`-o ${options.output}: expected table, json or yaml`);
      const url = `${adminBaseUrl(options.xdsDebugAddr)}/debug/syncz`;
      const status = JSON.parse(await fetchText(url, "the operator's xDS debug endpoint")) as SyncStatusJson;
      const proxies = (status.proxies ?? []).filter((entry) => proxy === undefined || matchesProxy(proxy, proxyName(entry.node, entry.proxy), entry.proxy));
      if (proxy !== undefined && proxies.length === 0) {
        const known = (status.proxies ?? []).map((entry) => proxyName(entry.node, entry.proxy));
        throw new Error(`proxy ${proxy} is not connected to the operator at ${options.xdsDebugAddr} (connected: ${known.length > 0 ? known.join(", ") : "none"})`);
      }
      if (options.output === "json") process.stdout.write(`${JSON.stringify({ ...status, proxies }, null, 2)}\n`);
      else if (options.output === "yaml") process.stdout.write(dump({ ...status, proxies }, { noRefs: true, lineWidth: -1 }));
      else process.stdout.write(renderTable(proxyStatusTable({ ...status, proxies })));
    });
}
