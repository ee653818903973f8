import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import yaml from "js-yaml";
import { classify, validateResource } from "../../api/validation/index.js";
import type { Finding } from "../../api/validation/index.js";
import { analyzeSnapshot } from "../../explain/analysis.js";
import type { AnalysisFinding } from "../../explain/analysis.js";
import type { DestinationRule, Gateway, VirtualService } from "../../model/istio.js";
import type { Secret, Service } from "../../model/kube.js";
import { parseManifests } from "../../model/manifests.js";
import { buildSnapshot } from "../../model/snapshot.js";
import { KubeApiError, KubeRest } from "../../sources/kube/rest.js";
import type { KubeObject } from "../../sources/kube/rest.js";
import { verboseHelp, withProgress } from "../progress.js";
import type { Progress } from "../progress.js";
import { loadKubeConfig } from "./operator.js";

/** One line of the report: `path: Kind ns/name: field: message`. */
export interface AnalyzeLine {
  file: string;
  severity: Finding["severity"];
  text: string;
}

const MANIFEST_EXTENSIONS = /\.(ya?ml|json)$/i;

/** Every manifest file under the given files/folders, folders walked recursively, sorted. */
export function collectFiles(inputs: readonly string[]): string[] {
  const files: string[] = [];
  const walk = (path: string, explicit: boolean): void => {
    const stats = statSync(path);
    if (stats.isDirectory()) {
      for (const entry of readdirSync(path).sort()) walk(join(path, entry), false);
    } else if (explicit || MANIFEST_EXTENSIONS.test(path)) {
      files.push(path);
    }
  };
  for (const input of inputs) walk(input, true);
  return files;
}

function describeObject(document: { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } }, defaultNamespace: string): string {
  const namespace = typeof document.metadata?.namespace === "string" ? document.metadata.namespace : defaultNamespace;
  const name = typeof document.metadata?.name === "string" ? document.metadata.name : "<no name>";
  return `${String(document.kind)} ${namespace}/${name}`;
}

/** Analyzes the text of one file (multi-document YAML). Pure apart from its inputs. */
export function analyzeText(file: string, text: string, defaultNamespace = "default"): AnalyzeLine[] {
  let documents: unknown[];
  try {
    documents = yaml.loadAll(text);
  } catch (error) {
    return [{ file, severity: "error", text: `${file}: YAML: ${(error as Error).message.split("\n")[0]}` }];
  }
  const lines: AnalyzeLine[] = [];
  for (const document of documents) {
    if (document === null || document === undefined) continue;
    const classification = classify(document);
    // Plain Kubernetes kinds and non-manifest YAML (e.g. an Envoy config) are not ours to judge.
    if (classification.type === "other" || classification.type === "not-a-manifest") continue;
    const object = describeObject(document as { kind?: unknown }, defaultNamespace);
    if (classification.type === "unsupported-istio") {
      lines.push({
        file,
        severity: "warning",
        text: `${file}: ${object}: kind: warning: ${classification.apiVersion} ${classification.kind} is not supported yet by pilotfish (only Gateway, VirtualService and DestinationRule are); it is not checked`,
      });
      continue;
    }
    for (const finding of validateResource(document)) {
      const label = finding.severity === "warning" ? "warning: " : "";
      lines.push({ file, severity: finding.severity, text: `${file}: ${object}: ${finding.path}: ${label}${finding.message}` });
    }
  }
  return lines;
}

/** One line of the -o json report: validation findings (IST0106) and cross-reference findings alike. */
export interface AnalyzeJsonFinding {
  code: string;
  name: string;
  level: AnalysisFinding["level"];
  resource: string;
  field: string;
  message: string;
  fix?: string;
  file?: string;
}

function crossReferenceText(finding: AnalysisFinding): string {
  return `${finding.level} [${finding.code}] (${finding.kind} ${finding.namespace}/${finding.resourceName} ${finding.field}) ${finding.message}; fix: ${finding.fix}`;
}

function toJson(finding: AnalysisFinding): AnalyzeJsonFinding {
  return { code: finding.code, name: finding.name, level: finding.level, resource: `${finding.kind} ${finding.namespace}/${finding.resourceName}`, field: finding.field, message: finding.message, fix: finding.fix };
}

/** The cross-reference findings of manifest texts (pure apart from its inputs). */
export function crossReferenceFindings(texts: readonly string[], defaultNamespace: string, gatewayNamespace = "istio-system"): AnalysisFinding[] {
  const { inputs } = parseManifests(texts, defaultNamespace);
  return analyzeSnapshot(buildSnapshot(inputs), inputs.services, { gatewayNamespace });
}

/** Reads what the checks need from a live cluster: Istio resources and Services everywhere, the Secrets Gateways name. */
async function clusterFindings(kubeconfig: string | undefined, gatewayNamespace: string, progress: Progress): Promise<AnalysisFinding[]> {
  const { config, from } = loadKubeConfig(kubeconfig);
  const rest = new KubeRest(config);
  progress.phase(`listing Gateways, VirtualServices, DestinationRules and Services at ${config.getCurrentCluster()?.server ?? "?"} (kubeconfig: ${from})`);
  const list = async <T>(path: string): Promise<T[]> => {
    try {
      return (await rest.list(path)).items as unknown as T[];
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 404) return [];
      throw new Error(`cannot list ${path}: ${(error as Error).message}`);
    }
  };
  const gateways = await list<Gateway>("/apis/networking.istio.io/v1/gateways");
  const virtualServices = await list<VirtualService>("/apis/networking.istio.io/v1/virtualservices");
  const destinationRules = await list<DestinationRule>("/apis/networking.istio.io/v1/destinationrules");
  const services = await list<Service>("/api/v1/services");
  const secrets: Secret[] = [];
  const wanted = new Set<string>();
  for (const gateway of gateways) {
    for (const server of gateway.spec.servers ?? []) {
      const name = server.tls?.credentialName;
      if (!name) continue;
      for (const namespace of new Set([gatewayNamespace, gateway.metadata.namespace ?? "default"])) wanted.add(`${namespace}/${name}`);
    }
  }
  if (wanted.size > 0) progress.phase(`reading the ${wanted.size} credential Secret(s) the Gateways name`);
  for (const key of wanted) {
    const [namespace, name] = key.split("/") as [string, string];
    const secret = await rest.get<Secret & KubeObject>(`/api/v1/namespaces/${namespace}/secrets/${name}`);
    if (secret) secrets.push(secret);
  }
  return analyzeSnapshot(buildSnapshot({ gateways, virtualServices, destinationRules, services, secrets }), services, { gatewayNamespace });
}

const examples = `
Examples:
  pilotfish analyze -f ../shared/labs/ch4                 # files: validation + cross-references
  pilotfish analyze --cluster                             # the live cluster ($KUBECONFIG or --kubeconfig)
  pilotfish analyze -f manifests/ -o json                 # machine-readable

Codes (docs/cli.md): IST0101 ReferencedResourceNotFound, IST0106 SchemaValidationError,
IST0109 ConflictingMeshGatewayVirtualServiceHosts, IST0112 VirtualServiceDestinationPortSelectorRequired,
IST0130 VirtualServiceUnreachableRule, IST0132 VirtualServiceHostNotFoundInGateway,
IST0161 InvalidGatewayCredential, IST0162 GatewayPortNotDefinedOnService,
PF0101 ConflictingGatewayVirtualServiceHosts.
Exit codes: 0 no errors (warnings allowed), 1 errors found, or the input cannot be read.`;

interface AnalyzeOptions {
  filename?: string[];
  namespace: string;
  cluster?: boolean;
  kubeconfig?: string;
  gatewayNamespace: string;
  output: string;
  verbose?: boolean;
}

export function registerAnalyzeCommand(program: Command): void {
  program
    .command("analyze")
    .description("validate Istio networking manifests the way Istio does, and cross-check them: Gateways, hosts, Services, ports, subsets, credentials, duplicate hosts, unreachable rules")
    .option("-f, --filename <path>", "a file or folder (recursive) of YAML manifests; repeatable", (value: string, previous: string[] = []) => [...previous, value])
    .option("--cluster", "analyze the live cluster's resources instead of files")
    .option("--kubeconfig <path>", "kubeconfig for --cluster (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    .option("-n, --namespace <ns>", "namespace assumed for manifests without one", "default")
    .option("--gateway-namespace <ns>", "namespace of the gateway workload (where credential Secrets are looked up first)", "istio-system")
    .option("-o, --output <format>", "text or json", "text")
    .option("--verbose", verboseHelp)
    .addHelpText("after", examples)
    .action(async (options: AnalyzeOptions) => {
      if (options.output !== "text" && options.output !== "json") throw new Error(`-o ${options.output}: expected text or json`);
      const hasFiles = (options.filename ?? []).length > 0;
      if (hasFiles === (options.cluster === true)) throw new Error("give exactly one source: -f DIR (manifests) or --cluster (the live cluster)");
      const json: AnalyzeJsonFinding[] = [];
      let errors = 0;
      let warnings = 0;
      let crossReferences: AnalysisFinding[];
      let analyzed: string;
      if (hasFiles) {
        let files: string[];
        try {
          files = collectFiles(options.filename ?? []);
        } catch (error) {
          throw new Error(`analyze: ${(error as Error).message}`);
        }
        const texts: string[] = [];
        const validationTexts: string[] = [];
        for (const file of files) {
          const text = readFileSync(file, "utf8");
          texts.push(text);
          for (const line of analyzeText(file, text, options.namespace)) {
            validationTexts.push(line.text);
            if (options.output === "text") console.log(line.text);
            json.push({ code: "IST0106", name: "SchemaValidationError", level: line.severity === "error" ? "Error" : "Warning", resource: line.text.split(": ")[1] ?? "", field: "", message: line.text, file });
            if (line.severity === "error") errors += 1;
            else warnings += 1;
          }
        }
        try {
          // The validator already warns about rules after a match-less one: one warning per rule is enough.
          crossReferences = crossReferenceFindings(texts, options.namespace, options.gatewayNamespace).filter((finding) => {
            const rule = /^spec\.http\[\d+\]/.exec(finding.field)?.[0];
            const object = `${finding.kind} ${finding.namespace}/${finding.resourceName}: ${rule ?? ""}`;
            return finding.code !== "IST0130" || rule === undefined || !validationTexts.some((text) => text.includes(object));
          });
        } catch {
          // A file that does not parse was reported above; cross-references need every file.
          crossReferences = [];
        }
        analyzed = `${files.length} file(s) analyzed`;
      } else {
        crossReferences = await withProgress(options.verbose, (progress) => clusterFindings(options.kubeconfig, options.gatewayNamespace, progress));
        analyzed = "cluster analyzed";
      }
      for (const finding of crossReferences) {
        if (options.output === "text") console.log(crossReferenceText(finding));
        json.push(toJson(finding));
        if (finding.level === "Error") errors += 1;
        else warnings += 1;
      }
      if (options.output === "json") process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
      console.error(`${analyzed}: ${errors} error(s), ${warnings} warning(s)`);
      if (errors > 0) process.exitCode = 1;
    });
}
