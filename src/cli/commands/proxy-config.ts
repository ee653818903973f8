import type { Command } from "commander";
import { dump } from "js-yaml";
import type { EnvoyResources } from "../../envoy/resources.js";
import { envoyJson } from "../../envoy/cluster.js";
import { withoutPrivateKeys } from "../../explain/config-dump.js";
import { clustersTable, endpointsTable, listenersTable, renderTable, routesTable, secretsTable } from "../../explain/tables.js";
import type { Table } from "../../explain/tables.js";
import { compileFiles, liveProxyResources } from "./inspect-sources.js";
import { verboseHelp } from "../progress.js";

type Kind = keyof EnvoyResources;
const kinds: Kind[] = ["listeners", "routes", "clusters", "endpoints", "secrets"];
/** istioctl's names, singular and plural. */
const kindOf: Record<string, Kind | "all"> = {
  all: "all",
  listener: "listeners",
  listeners: "listeners",
  route: "routes",
  routes: "routes",
  cluster: "clusters",
  clusters: "clusters",
  endpoint: "endpoints",
  endpoints: "endpoints",
  secret: "secrets",
  secrets: "secrets",
};

const tableOf: Record<Kind, (resources: EnvoyResources) => Table> = {
  listeners: listenersTable,
  routes: routesTable,
  clusters: clustersTable,
  endpoints: endpointsTable,
  secrets: (resources) => secretsTable(resources, new Date()),
};

const examples = `
Examples:
  # the routes a gateway pod serves (port-forward through the Kubernetes API)
  pilotfish proxy-config routes deploy/istio-ingressgateway.istio-system
  # a gateway reachable directly (standalone, or its Envoy admin address)
  pilotfish proxy-config routes --admin-addr 127.0.0.1:15000
  # what the operator would give the gateway for these manifests
  pilotfish proxy-config all -f examples/coolstore
  # certificates without private keys, as JSON
  pilotfish proxy-config secrets --admin-addr 127.0.0.1:15000 -o json

Kinds: listeners, routes, clusters, endpoints, secrets (singular works too), all.
Secrets never show private keys (Envoy's dump redacts them; compiled ones are redacted here).
Exit codes: 0 printed, 1 bad kind/flags or the proxy/files cannot be read.`;

export function registerProxyConfigCommand(program: Command): void {
  program
    .command("proxy-config")
    .argument("<kind>", "listeners | routes | clusters | endpoints | secrets | all")
    .argument("[proxy]", "a gateway pod in the cluster (pod.namespace or deploy/name.namespace), reached by port-forward to its Envoy admin")
    .description("a gateway's Envoy configuration as tables like istioctl's: from a running Envoy's /config_dump or compiled from manifests")
    .option("--admin-addr <host:port>", "the proxy's Envoy admin address (instead of PROXY)")
    .option("--admin-port <port>", "the Envoy admin port inside the PROXY pod", "15000")
    .option("--kubeconfig <path>", "kubeconfig for PROXY (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    .option("-f, --filename <path>", "manifest file or folder (repeatable), compiled like the operator does", (value: string, previous: string[] = []) => [...previous, value])
    .option("-n, --namespace <ns>", "namespace for manifests without one", "default")
    .option("-o, --output <format>", "table, json or yaml", "table")
    .option("--verbose", verboseHelp)
    .addHelpText("after", examples)
    .action(async (kindText: string, proxy: string | undefined, options: { adminAddr?: string; adminPort: string; kubeconfig?: string; filename?: string[]; namespace: string; output: string; verbose?: boolean }) => {
      const kind = kindOf[kindText.toLowerCase()];
      if (!kind) throw new Error(`unknown kind ${kindText}: expected one of ${[...kinds, "all"].join(", ")}`);
      if (!["table", "json", "yaml"].includes(options.output)) throw new Error(`-o ${options.output}: expected table, json or yaml`);
      const hasFiles = (options.filename ?? []).length > 0;
      const sources = [hasFiles, options.adminAddr !== undefined, proxy !== undefined].filter(Boolean).length;
      if (sources !== 1) throw new Error("give exactly one source: PROXY (a pod in the cluster), --admin-addr HOST:PORT (a running Envoy) or -f DIR (manifests)");
      let resources: EnvoyResources;
      if (hasFiles) resources = compileFiles(options.filename ?? [], options.namespace).resources;
      else resources = await liveProxyResources({ adminAddr: options.adminAddr, proxy: proxy, kubeconfig: options.kubeconfig, adminPort: Number(options.adminPort), verbose: options.verbose });
      const printable: EnvoyResources = { ...resources, endpoints: resources.endpoints.map(envoyJson) as EnvoyResources["endpoints"], secrets: resources.secrets.map(withoutPrivateKeys) as EnvoyResources["secrets"] };
      const selected = kind === "all" ? kinds : [kind];
      if (options.output !== "table") {
        const data = kind === "all" ? Object.fromEntries(selected.map((k) => [k, printable[k]])) : printable[kind];
        process.stdout.write(options.output === "json" ? `${JSON.stringify(data, null, 2)}\n` : dump(data, { noRefs: true, lineWidth: -1 }));
        return;
      }
      const blocks = selected.map((k) => `${kind === "all" ? `${k.toUpperCase()}\n` : ""}${renderTable(tableOf[k](printable))}`);
      process.stdout.write(blocks.join("\n"));
    });
}
