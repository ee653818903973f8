import type { Command } from "commander";
import { explainRequest } from "../../explain/trace.js";
import type { EnvoyResources } from "../../envoy/resources.js";
import type { ExplainContext, ExplainRequest } from "../../explain/trace.js";
import { ansiStyle, explanationJson, plainStyle, renderExplanation } from "../../explain/format.js";
import { compileFiles, liveProxyResources } from "./inspect-sources.js";
import { verboseHelp } from "../progress.js";

interface ExplainOptions {
  verbose?: boolean;
  filename?: string[];
  namespace: string;
  adminAddr?: string;
  proxy?: string;
  kubeconfig?: string;
  adminPort: string;
  host: string;
  path: string;
  method: string;
  header: string[];
  sni?: string;
  port?: string;
  scheme: string;
  clientCert?: boolean;
  output: string;
}

/** "name=value" or "name: value". */
export function parseHeader(text: string): [string, string] {
  const match = /^([^=:\s]+)\s*(?:=|:\s?)(.*)$/.exec(text);
  if (!match) throw new Error(`--header ${JSON.stringify(text)}: expected name=value (e.g. --header x-version=beta)`);
  return [match[1] ?? "", match[2] ?? ""];
}

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port ${text}: expected a port number 1-65535`);
  return port;
}

const examples = `
Examples:
  # why does this request 404? (manifests compiled like the operator does)
  pilotfish explain -f examples/coolstore --host webapp.istioinaction.io --path /api/catalog
  # HTTPS with SNI, a header and a method
  pilotfish explain -f manifests/ --host api.shop.example --scheme https --port 443 --header x-version=beta --method POST
  # a gateway pod in the cluster (port-forward through the Kubernetes API)
  pilotfish explain --proxy deploy/istio-ingressgateway.istio-system --host webapp.istioinaction.io --port 8080
  # a running gateway (Envoy admin address), machine-readable
  pilotfish explain --admin-addr 127.0.0.1:15000 --host webapp.istioinaction.io -o json

The request's port is the Gateway server (Service) port; the Service's targetPort picks the listener.
Exit codes: 0 traced (whatever the verdict), 1 bad flags or unreadable input.`;

export function registerExplainCommand(program: Command): void {
  program
    .command("explain")
    .description("trace one request through the gateway's Envoy config: listener, filter chain, virtual host, each route tried, the action, clusters and endpoints, and why")
    .option("-f, --filename <path>", "manifest file or folder (repeatable), compiled like the operator does", (value: string, previous: string[] = []) => [...previous, value])
    .option("-n, --namespace <ns>", "namespace for manifests without one", "default")
    .option("--admin-addr <host:port>", "trace against a running Envoy's config (its admin address) instead of files")
    .option("--proxy <pod>", "trace against a gateway pod in the cluster (pod.namespace or deploy/name.namespace), by port-forward to its Envoy admin")
    .option("--admin-port <port>", "the Envoy admin port inside the --proxy pod", "15000")
    .option("--kubeconfig <path>", "kubeconfig for --proxy (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    .requiredOption("--host <host>", "the request's Host header (a port may follow: host:port)")
    .option("--path <path>", "path and query", "/")
    .option("--method <method>", "HTTP method", "GET")
    .option("--header <name=value>", "a request header (repeatable)", (value: string, previous: string[] = []) => [...previous, value], [])
    .option("--sni <name>", "TLS server name (default: the host, for https)")
    .option("--port <port>", "the port the client connects to (Gateway server port; default 80, 443 for https)")
    .option("--scheme <scheme>", "http or https", "http")
    .option("--client-cert", "the client presents a trusted certificate (mutual TLS)")
    .option("-o, --output <format>", "text or json", "text")
    .option("--verbose", verboseHelp)
    .addHelpText("after", examples)
    .action(async (options: ExplainOptions) => {
      if (options.scheme !== "http" && options.scheme !== "https") throw new Error(`--scheme ${options.scheme}: expected http or https`);
      if (options.output !== "text" && options.output !== "json") throw new Error(`-o ${options.output}: expected text or json`);
      const hasFiles = (options.filename ?? []).length > 0;
      if ([hasFiles, options.adminAddr !== undefined, options.proxy !== undefined].filter(Boolean).length !== 1) {
        throw new Error("give exactly one source: -f DIR (manifests), --proxy POD (a gateway pod in the cluster) or --admin-addr HOST:PORT (a running Envoy)");
      }
      const port = parsePort(options.port);
      const request: ExplainRequest = {
        host: options.host,
        path: options.path.startsWith("/") ? options.path : `/${options.path}`,
        method: options.method,
        headers: options.header.map(parseHeader),
        scheme: options.scheme,
        ...(options.sni !== undefined ? { sni: options.sni } : {}),
        ...(port !== undefined ? { port } : {}),
        ...(options.clientCert ? { clientCertificate: true } : {}),
      };
      let resources: EnvoyResources;
      let context: ExplainContext = {};
      if (hasFiles) {
        const compiled = compileFiles(options.filename ?? [], options.namespace);
        resources = compiled.resources;
        context = compiled.context;
      } else {
        resources = await liveProxyResources({ adminAddr: options.adminAddr, proxy: options.proxy, kubeconfig: options.kubeconfig, adminPort: Number(options.adminPort), verbose: options.verbose });
      }
      const explanation = explainRequest(resources, request, context);
      if (options.output === "json") process.stdout.write(`${JSON.stringify(explanationJson(explanation), null, 2)}\n`);
      else process.stdout.write(renderExplanation(explanation, process.stdout.isTTY ? ansiStyle : plainStyle));
    });
}
