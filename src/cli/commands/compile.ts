import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { dump, loadAll } from "js-yaml";
import { compileGateway } from "../../compile/compile.js";
import { defaultCompileOptions } from "../../compile/output.js";
import type { CompileResult } from "../../compile/output.js";
import { compileSidecar } from "../../compile/sidecar/compile.js";
import { sidecarWorkloads } from "../../compile/sidecar/workloads.js";
import { defaultIngressGatewayProxy } from "../../model/proxy.js";
import type { GatewayProxy } from "../../model/proxy.js";
import { envoyJson } from "../../envoy/cluster.js";
import { fileBootstrap } from "../../envoy/bootstrap.js";
import { fileLayout } from "../../envoy/layout.js";
import { buildSnapshot } from "../../model/snapshot.js";
import type { SnapshotInputs } from "../../model/snapshot.js";
import type { Service } from "../../model/kube.js";
import { findIngressGatewayService, parseManifests, proxyFromService } from "../../model/manifests.js";
import { proxyFor } from "../../sources/kube/source.js";
import { verboseHelp, withProgress } from "../progress.js";
import { runCompileDiff } from "./compile-diff.js";

/** Files named by -f, like kubectl: a directory contributes its .yaml/.yml/.json files (sorted). */
function manifestFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const path of paths) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch (error) {
      throw new Error(`cannot read ${path}: ${describeFileError(error)}`);
    }
    if (isDirectory) {
      for (const entry of readdirSync(path).sort()) {
        if (/\.(ya?ml|json)$/.test(entry)) files.push(join(path, entry));
      }
    } else {
      files.push(path);
    }
  }
  return files;
}

function describeFileError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES") return "permission denied";
  return error instanceof Error ? error.message : String(error);
}

/** The file's text, after checking that it parses, so a YAML error names its file. */
function readManifestFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read ${file}: ${describeFileError(error)}`);
  }
  try {
    loadAll(text);
  } catch (error) {
    throw new Error(`${file}: invalid YAML: ${error instanceof Error ? error.message : String(error)}`);
  }
  return text;
}

/** The manifests named by -f, parsed (for `compile` and `compile --diff`). */
export function readManifests(paths: readonly string[], namespace: string): Required<SnapshotInputs> {
  return parseManifests(manifestFiles(paths).map(readManifestFile), namespace).inputs;
}

/** `--labels app=web,version=v1` (repeatable) → { app: "web", version: "v1" }. */
export function parseLabels(values: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const value of values) {
    for (const pair of value.split(",")) {
      if (pair.trim() === "") continue;
      const equals = pair.indexOf("=");
      const key = equals > 0 ? pair.slice(0, equals).trim() : "";
      if (key === "") throw new Error(`--labels ${JSON.stringify(pair)}: expected key=value, e.g. --labels app=webapp`);
      labels[key] = pair.slice(equals + 1).trim();
    }
  }
  return labels;
}

function selectsLabels(service: Service, labels: Readonly<Record<string, string>>): boolean {
  const selector = Object.entries(service.spec?.selector ?? {});
  return selector.length > 0 && selector.every(([key, value]) => labels[key] === value);
}

/**
 * The gateway a compile is for. With --labels: the gateway pods carrying those labels, exposed by
 * the manifests' Service selecting them (its namespace and name; ports as the operator derives
 * them), else Istio's default ingress Service ports. Without: the manifests' `istio:
 * ingressgateway` Service, else Istio's default istio-ingressgateway.
 */
export function gatewayProxyFor(services: readonly Service[], labels: Readonly<Record<string, string>> | undefined): GatewayProxy {
  if (!labels) {
    const service = findIngressGatewayService(services);
    return service ? proxyFromService(service) : defaultIngressGatewayProxy;
  }
  const service = [...services].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)).find((candidate) => selectsLabels(candidate, labels));
  if (!service) return { ...defaultIngressGatewayProxy, labels: { ...labels } };
  const namespace = service.metadata.namespace ?? "default";
  return proxyFor(namespace, service.metadata.name, { ...labels }, services);
}

interface CompileCommandOptions {
  filename: string[];
  namespace: string;
  output: string;
  retryOn503?: boolean;
  verbose?: boolean;
  proxy: string;
  labels: string[];
  layout?: string;
  diff?: boolean;
  kubeconfig?: string;
  context?: string;
}

/** Compiles for the proxy the flags name; the label set decides which workload. */
function compileFor(inputs: Required<SnapshotInputs>, options: CompileCommandOptions): { result: CompileResult; proxyName: string } {
  const labels = options.labels.length > 0 ? parseLabels(options.labels) : undefined;
  const compileOptions = { ...defaultCompileOptions, defaultRetryOn503: options.retryOn503 === true };
  const snapshot = buildSnapshot(inputs);
  if (options.proxy === "sidecar") {
    if (!labels) throw new Error("--proxy sidecar needs --labels: the workload's pod labels, e.g. --labels app=webapp");
    const name = labels.app ?? labels["app.kubernetes.io/name"] ?? "workload";
    // The workload as the operator sees an injected pod of it: its ports from the Services selecting it.
    const pod = {
      metadata: { name: `${name}-pod`, namespace: options.namespace, labels, annotations: { "sidecar.istio.io/status": "{}" } },
      spec: { containers: [{ name: "istio-proxy", env: [{ name: "ISTIO_META_WORKLOAD_NAME", value: name }] }] },
    };
    const [workload] = sidecarWorkloads([pod], inputs.services);
    if (!workload) throw new Error("internal: no sidecar workload for the labels");
    return { result: compileSidecar(snapshot, workload, inputs.services, compileOptions), proxyName: workload.key };
  }
  const proxy = gatewayProxyFor(inputs.services, labels);
  return { result: compileGateway(snapshot, proxy, compileOptions), proxyName: `${proxy.namespace}/${proxy.name}` };
}

const examples = `
Examples:
  # the ingress gateway's Envoy config for the labs' coolstore, as YAML
  pilotfish compile -f ../shared/labs/ch4/coolstore-gw.yaml -f ../shared/labs/ch4/coolstore-vs.yaml -n istioinaction -o yaml

  # a gateway picked by its pod labels; the sidecar of the pods labelled app=webapp
  pilotfish compile -f manifests/ --labels istio=my-gateway
  pilotfish compile -f manifests/ --proxy sidecar --labels app=webapp -n istioinaction

  # the files the gateway pod reads (the published ConfigMap keys), then run Envoy on them
  pilotfish compile -f examples/coolstore --layout /tmp/gw && envoy -c /tmp/gw/envoy.yaml

  # what applying these files would change in each gateway's published config
  pilotfish compile -f manifests/ --diff --kubeconfig ~/.kube/config

Exit codes: 0 compiled (diagnostics on stderr) — with --diff: no change; 1 unreadable input,
bad flags or an unreachable cluster; 2 (--diff only) the config of at least one proxy would change.`;

export function registerCompileCommand(program: Command): void {
  program
    .command("compile")
    .description(
      "compile Gateways, VirtualServices and DestinationRules (with the Services, EndpointSlices and Secrets they use) " +
        "to a proxy's Envoy config (the ingress gateway by default); diagnostics go to stderr",
    )
    .requiredOption("-f, --filename <path>", "manifest file or directory (repeatable)", (value: string, previous: string[] = []) => [...previous, value])
    .option("-n, --namespace <namespace>", "namespace for manifests that have none (and of a --proxy sidecar workload)", "default")
    .option("-o, --output <format>", "json or yaml", "json")
    .option("--proxy <kind>", "gateway or sidecar", "gateway")
    .option("--labels <k=v,...>", "which proxy: its pods' labels (repeatable)", (value: string, previous: string[] = []) => [...previous, value], [])
    .option("--layout <dir>", "write the file layout (the published ConfigMap keys and envoy.yaml, reading from DIR) instead of printing")
    .option("--diff", "compare with what the operator published in the cluster: a unified diff per Envoy resource and a summary per proxy")
    .option("--kubeconfig <path>", "with --diff: the cluster's kubeconfig (default $KUBECONFIG, then ~/.kube/config)")
    .option("--context <name>", "with --diff: the kubeconfig context")
    .option("--retry-on-503", "Istio <= 1.23 default retry policy (503 retriable)")
    .option("--verbose", verboseHelp)
    .addHelpText("after", examples)
    .action(async (options: CompileCommandOptions) => {
      if (options.output !== "json" && options.output !== "yaml") throw new Error(`unknown output format ${options.output} (json or yaml)`);
      if (options.proxy !== "gateway" && options.proxy !== "sidecar") throw new Error(`--proxy ${options.proxy}: expected gateway or sidecar`);
      if (options.diff && options.layout) throw new Error("--diff and --layout do not go together: run them one after the other");
      const inputs = readManifests(options.filename, options.namespace);
      if (options.diff) {
        if (options.proxy === "sidecar") throw new Error("--diff compares the gateways' published ConfigMaps; sidecars get their config over ADS only (leave out --proxy sidecar)");
        process.exitCode = await withProgress(options.verbose, (progress) => runCompileDiff({
          inputs,
          labels: options.labels.length > 0 ? parseLabels(options.labels) : undefined,
          kubeconfig: options.kubeconfig,
          context: options.context,
          compileOptions: { ...defaultCompileOptions, defaultRetryOn503: options.retryOn503 === true },
          out: (text) => process.stdout.write(text),
          err: (text) => progress.print(text),
          color: process.stdout.isTTY === true && !process.env.NO_COLOR,
          progress,
        }));
        return;
      }
      const { result, proxyName } = compileFor(inputs, options);
      for (const d of result.diagnostics) {
        process.stderr.write(`${d.severity}: ${d.kind} ${d.namespace}/${d.name} ${d.field}: ${d.message}\n`);
      }
      const r = result.resources;
      if (options.layout) {
        const dir = resolve(options.layout);
        mkdirSync(dir, { recursive: true });
        const files = fileLayout(r, dir);
        for (const file of files) writeFileSync(join(dir, file.name), file.content);
        writeFileSync(join(dir, "envoy.yaml"), dump(fileBootstrap(dir, { adminPort: 15000 }), { noRefs: true, lineWidth: -1 }));
        process.stderr.write(`${proxyName}: wrote ${files.length + 1} files to ${dir} (envoy.yaml is the bootstrap: envoy -c ${join(dir, "envoy.yaml")})\n`);
        return;
      }
      const printed = {
        listeners: r.listeners,
        routes: r.routes,
        clusters: r.clusters,
        endpoints: r.endpoints.map(envoyJson),
        secrets: r.secrets,
      };
      process.stdout.write(options.output === "yaml" ? dump(printed, { noRefs: true, lineWidth: -1 }) : `${JSON.stringify(printed, null, 2)}\n`);
    });
}
