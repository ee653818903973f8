import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { dump, loadAll } from "js-yaml";
import { compileGateway } from "../../compile/compile.js";
import { defaultCompileOptions } from "../../compile/output.js";
import { defaultIngressGatewayProxy } from "../../model/proxy.js";
import { envoyJson } from "../../envoy/cluster.js";
import { buildSnapshot } from "../../model/snapshot.js";
import { findIngressGatewayService, parseManifests, proxyFromService } from "../../model/manifests.js";

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

interface CompileCommandOptions {
  filename: string[];
  namespace: string;
  output: string;
  retryOn503?: boolean;
}

export function registerCompileCommand(program: Command): void {
  program
    .command("compile")
    .description(
      "compile Gateways, VirtualServices and DestinationRules (with the Services, EndpointSlices and Secrets they use) " +
        "to the Envoy config of the ingress gateway; diagnostics go to stderr",
    )
    .requiredOption("-f, --filename <path>", "manifest file or directory (repeatable)", (value: string, previous: string[] = []) => [...previous, value])
    .option("-n, --namespace <namespace>", "namespace for manifests that have none", "default")
    .option("-o, --output <format>", "json or yaml", "json")
    .option("--retry-on-503", "Istio <= 1.23 default retry policy (503 retriable)")
    .action((options: CompileCommandOptions) => {
      if (options.output !== "json" && options.output !== "yaml") throw new Error(`unknown output format ${options.output} (json or yaml)`);
      const texts = manifestFiles(options.filename).map(readManifestFile);
      const { inputs } = parseManifests(texts, options.namespace);
      const gatewayService = findIngressGatewayService(inputs.services);
      const proxy = gatewayService ? proxyFromService(gatewayService) : defaultIngressGatewayProxy;
      const result = compileGateway(buildSnapshot(inputs), proxy, { ...defaultCompileOptions, defaultRetryOn503: options.retryOn503 === true });
      const r = result.resources;
      const printed = {
        listeners: r.listeners,
        routes: r.routes,
        clusters: r.clusters,
        endpoints: r.endpoints.map(envoyJson),
        secrets: r.secrets,
      };
      process.stdout.write(options.output === "yaml" ? dump(printed, { noRefs: true, lineWidth: -1 }) : `${JSON.stringify(printed, null, 2)}\n`);
      for (const d of result.diagnostics) {
        process.stderr.write(`${d.severity}: ${d.kind} ${d.namespace}/${d.name} ${d.field}: ${d.message}\n`);
      }
    });
}
