import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import yaml from "js-yaml";
import { classify, validateResource } from "../../api/validation/index.js";
import type { Finding } from "../../api/validation/index.js";

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

export function registerAnalyzeCommand(program: Command): void {
  program
    .command("analyze")
    .description("validate Istio networking manifests (Gateway, VirtualService, DestinationRule) the way Istio does")
    .requiredOption("-f, --filename <path>", "a file or folder (recursive) of YAML manifests; repeatable", (value: string, previous: string[] = []) => [...previous, value])
    .option("-n, --namespace <ns>", "namespace assumed for manifests without one", "default")
    .action((options: { filename: string[]; namespace: string }) => {
      let files: string[];
      try {
        files = collectFiles(options.filename);
      } catch (error) {
        console.error(`pilotfish analyze: ${(error as Error).message}`);
        process.exitCode = 1;
        return;
      }
      let errors = 0;
      let warnings = 0;
      for (const file of files) {
        for (const line of analyzeText(file, readFileSync(file, "utf8"), options.namespace)) {
          console.log(line.text);
          if (line.severity === "error") errors += 1;
          else warnings += 1;
        }
      }
      console.error(`${files.length} file(s) analyzed: ${errors} error(s), ${warnings} warning(s)`);
      if (errors > 0) process.exitCode = 1;
    });
}
