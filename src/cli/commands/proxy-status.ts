import type { Command } from "commander";
import { dump } from "js-yaml";
import { matchesProxy, proxyName, proxyStatusTable, renderTable } from "../../explain/tables.js";
import type { SyncStatusJson } from "../../explain/tables.js";
import { forwardToPod, parsePodTarget, runningPods } from "../port-forward.js";
import { verboseHelp, withProgress } from "../progress.js";
import type { Progress } from "../progress.js";
import { adminBaseUrl, fetchText } from "./inspect-sources.js";

const examples = `
Examples:
  # every proxy connected to the operator in the cluster (kubeconfig: $KUBECONFIG, ~/.kube/config)
  pilotfish proxy-status
  # one gateway, by pod or by Deployment
  pilotfish proxy-status deploy/istio-ingressgateway.istio-system
  # an operator run outside the cluster (pilotfish operator's default debug address)
  pilotfish proxy-status --xds-debug-addr 127.0.0.1:15011
  pilotfish proxy-status -o json

In a cluster, every Running pod of the operator's Deployment (--operator) is read through the
Kubernetes API's port-forward, as istioctl reads every istiod: each replica serves ADS, and a proxy
shows under the pod it is connected to (ISTIOD column).
Status per type: SYNCED (Envoy ACKed the current config), STALE (sent, not ACKed yet, or the config
changed since), NACKED (Envoy rejected it; -o json shows its message), NOT SENT.
Exit codes: 0 listed (even if some proxies are not SYNCED), 1 the operator's debug endpoint cannot be read
or PROXY is not connected.`;

interface ProxyStatusOptions {
  xdsDebugAddr?: string;
  operator: string;
  debugPort: string;
  kubeconfig?: string;
  output: string;
  verbose?: boolean;
}

type SyncStatusProxy = NonNullable<SyncStatusJson["proxies"]>[number];

/** What was read: one document per operator (pod, or the address given), each proxy labelled with its operator in cluster mode. */
interface ReadStatus {
  /** Where the state came from, for messages. */
  source: string;
  operators: Array<{ pod?: string; address?: string; server?: SyncStatusJson["server"] }>;
  proxies: SyncStatusProxy[];
  /** The whole /debug/syncz document when one address was read (printed in its own shape). */
  document?: SyncStatusJson;
}

async function readSyncz(address: string): Promise<SyncStatusJson> {
  return JSON.parse(await fetchText(`${adminBaseUrl(address)}/debug/syncz`, "the operator's xDS debug endpoint")) as SyncStatusJson;
}

async function readFromAddress(address: string, progress: Progress): Promise<ReadStatus> {
  progress.phase(`reading the operator's /debug/syncz at ${address}`);
  const status = await readSyncz(address);
  return { source: address, operators: [{ address, server: status.server }], proxies: status.proxies ?? [], document: status };
}

/** Every Running operator pod's /debug/syncz, through the Kubernetes API's port-forward. */
async function readFromCluster(options: ProxyStatusOptions, progress: Progress): Promise<ReadStatus> {
  const target = parsePodTarget(options.operator, "istio-system");
  const port = Number(options.debugPort);
  progress.phase(`finding the operator's Running pods (${options.operator})`);
  const pods = await runningPods(options.kubeconfig, target);
  progress.phase(`reading /debug/syncz from ${pods.map((pod) => `${target.namespace}/${pod}`).join(", ")} by port-forward`);
  const read = await Promise.all(
    pods.map(async (pod) => {
      const forwarded = await forwardToPod(options.kubeconfig, { namespace: target.namespace, name: pod, deployment: false }, port);
      try {
        return { pod, status: await readSyncz(forwarded.address) };
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`operator pod ${target.namespace}/${pod} serves no /debug/syncz on its port ${port} (${reason}); the operator serves it only with ADS on (chart: xds.enabled=true or gateway.mode agent|ads)`);
      } finally {
        await forwarded.close();
      }
    }),
  );
  return {
    source: options.operator,
    operators: read.map(({ pod, status }) => ({ pod, server: status.server })),
    proxies: read.flatMap(({ pod, status }) => (status.proxies ?? []).map((entry) => ({ ...entry, operator: pod }))),
  };
}

export function registerProxyStatusCommand(program: Command): void {
  program
    .command("proxy-status")
    .argument("[proxy]", "a pod (name.namespace), a Deployment (deploy/name.namespace) or a proxy key (namespace/name)")
    .description("the xDS sync state of each proxy connected to the operator (CDS, LDS, EDS, RDS, SDS), from its /debug/syncz")
    .option("--xds-debug-addr <host:port>", "read this operator debug address (operator --xds-debug-addr) instead of the cluster's operator pods")
    .option("--operator <deploy/name.namespace>", "the operator's Deployment (or one pod, name.namespace) in the cluster", "deploy/pilotfish.istio-system")
    .option("--debug-port <port>", "the operator's debug port inside its pods (its --xds-debug-addr, on the pod's loopback)", "15011")
    .option("--kubeconfig <path>", "kubeconfig for the cluster (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    .option("-o, --output <format>", "table, json or yaml", "table")
    .option("--verbose", verboseHelp)
    .addHelpText("after", examples)
    .action(async (proxy: string | undefined, options: ProxyStatusOptions) => {
      if (!["table", "json", "yaml"].includes(options.output)) throw new Error(`-o ${options.output}: expected table, json or yaml`);
      const address = options.xdsDebugAddr;
      const read = await withProgress(options.verbose, (progress) => (address !== undefined ? readFromAddress(address, progress) : readFromCluster(options, progress)));
      const proxies = read.proxies.filter((entry) => proxy === undefined || matchesProxy(proxy, proxyName(entry.node, entry.proxy), entry.proxy));
      if (proxy !== undefined && proxies.length === 0) {
        const known = read.proxies.map((entry) => proxyName(entry.node, entry.proxy));
        throw new Error(`proxy ${proxy} is not connected to the operator at ${read.source} (connected: ${known.length > 0 ? known.join(", ") : "none"})`);
      }
      // One operator read directly keeps /debug/syncz's own shape; several pods add which one each proxy is on.
      const document = read.document ? { ...read.document, proxies } : { operators: read.operators, proxies };
      if (options.output === "json") process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
      else if (options.output === "yaml") process.stdout.write(dump(document, { noRefs: true, lineWidth: -1 }));
      else process.stdout.write(renderTable(proxyStatusTable({ server: read.document?.server, proxies })));
    });
}
