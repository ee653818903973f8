/**
 * The standalone source: a folder of YAML (Istio resources, Services, EndpointSlices, Secrets)
 * read into the same `SnapshotInputs` the Kubernetes source builds from informers.
 *
 * A folder state is taken or refused as a whole: a YAML error, an Istio resource the API's
 * validator rejects, or a bad `pilotfish.io/endpoints` annotation refuses it (the caller keeps
 * the last good config), like a validating webhook refusing `kubectl apply` of the same files.
 * Warnings (unsupported Istio kinds, Services without endpoints) are reported and applied.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { loadAll } from "js-yaml";
import { classify, validateResource } from "../../api/validation/index.js";
import type { EndpointSlice, Service } from "../../model/kube.js";
import { defaultIngressGatewayProxy } from "../../model/proxy.js";
import type { GatewayProxy } from "../../model/proxy.js";
import { findIngressGatewayService, parseManifests, proxyFromService } from "../../model/manifests.js";
import type { SnapshotInputs } from "../../model/snapshot.js";
import { annotatedEndpointSlices } from "./endpoints.js";

export interface ConfigFile {
  /** Path relative to the folder (what messages name). */
  path: string;
  text: string;
}

export interface ConfigProblem {
  severity: "error" | "warning";
  file: string;
  /** `Kind namespace/name`, when the problem is about one resource. */
  resource?: string;
  field?: string;
  message: string;
}

export type ConfigState =
  | { ok: true; inputs: Required<SnapshotInputs>; proxy: GatewayProxy; warnings: ConfigProblem[]; files: string[] }
  | { ok: false; problems: ConfigProblem[]; files: string[] };

/** `file: Kind ns/name: field: message`, the shape `pilotfish analyze` prints. */
export function formatProblem(problem: ConfigProblem): string {
  const parts = [problem.file, problem.resource, problem.field].filter((part): part is string => part !== undefined && part !== "");
  const label = problem.severity === "warning" ? "warning: " : "";
  return `${parts.join(": ")}: ${label}${problem.message}`;
}

const manifestFile = /\.(ya?ml|json)$/i;

/**
 * The folder's manifest files (recursive, sorted by path). Hidden files and folders are skipped:
 * editors write their swap and backup files there (`.name.swp`, `.#name`).
 */
export function readConfigFiles(dir: string): ConfigFile[] {
  const files: ConfigFile[] = [];
  const walk = (path: string): void => {
    for (const entry of readdirSync(path).sort()) {
      if (entry.startsWith(".") || entry.endsWith("~")) continue;
      const child = join(path, entry);
      let isDirectory: boolean;
      try {
        isDirectory = statSync(child).isDirectory();
      } catch {
        continue; // removed while we walked: the next change event reads the folder again
      }
      if (isDirectory) walk(child);
      else if (manifestFile.test(entry)) files.push({ path: relative(dir, child), text: readFileSync(child, "utf8") });
    }
  };
  walk(dir);
  return files;
}

type Document = { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };

function describe(document: Document, namespace: string): string {
  const ns = typeof document.metadata?.namespace === "string" ? document.metadata.namespace : namespace;
  const name = typeof document.metadata?.name === "string" ? document.metadata.name : "<no name>";
  return `${String(document.kind)} ${ns}/${name}`;
}

function yamlProblem(file: string, error: unknown): ConfigProblem {
  const mark = (error as { mark?: { line?: number; column?: number } }).mark;
  const reason = (error as { reason?: string }).reason ?? (error instanceof Error ? error.message.split("\n")[0] : String(error));
  const where = mark?.line === undefined ? "" : ` at line ${mark.line + 1}, column ${(mark.column ?? 0) + 1}`;
  return { severity: "error", file, message: `invalid YAML${where}: ${reason}; fix the file and save it again` };
}

/** Pure: the files' contents → snapshot inputs and the gateway proxy, or the problems. */
export function configStateFromFiles(files: readonly ConfigFile[], namespace = "default"): ConfigState {
  const problems: ConfigProblem[] = [];
  const extraSlices: EndpointSlice[] = [];
  const texts: string[] = [];
  const serviceFiles = new Map<string, string>();
  for (const file of files) {
    let documents: unknown[];
    try {
      documents = loadAll(file.text);
    } catch (error) {
      problems.push(yamlProblem(file.path, error));
      continue;
    }
    texts.push(file.text);
    for (const document of documents) {
      const classification = classify(document);
      if (classification.type === "not-a-manifest") continue;
      const resource = describe(document as Document, namespace);
      if (classification.type === "unsupported-istio") {
        problems.push({ severity: "warning", file: file.path, resource, field: "kind", message: `${classification.kind} is not supported by pilotfish; ignored` });
        continue;
      }
      if (classification.type === "supported") {
        for (const finding of validateResource(document)) problems.push({ severity: finding.severity, file: file.path, resource, field: finding.path, message: finding.message });
        continue;
      }
      if (classification.kind === "Service") {
        const service = document as Service;
        if (typeof service.metadata?.name !== "string") continue;
        serviceFiles.set(`${service.metadata.namespace ?? namespace}/${service.metadata.name}`, file.path);
        const result = annotatedEndpointSlices({ ...service, metadata: { ...service.metadata, namespace: service.metadata.namespace ?? namespace } });
        if (result.ok) extraSlices.push(...result.slices);
        else problems.push({ severity: "error", file: file.path, resource, field: result.problem.field, message: result.problem.message });
      }
    }
  }
  const paths = files.map((file) => file.path);
  if (problems.some((problem) => problem.severity === "error")) return { ok: false, problems, files: paths };

  const parsed = parseManifests(texts, namespace).inputs;
  const inputs: Required<SnapshotInputs> = { ...parsed, endpointSlices: [...parsed.endpointSlices, ...extraSlices] };
  const gatewayService = findIngressGatewayService(inputs.services);
  const proxy = gatewayService ? proxyFromService(gatewayService) : defaultIngressGatewayProxy;
  const served = new Set(inputs.endpointSlices.map((slice) => `${slice.metadata.namespace}/${slice.metadata.labels?.["kubernetes.io/service-name"] ?? ""}`));
  for (const service of inputs.services) {
    const key = `${service.metadata.namespace}/${service.metadata.name}`;
    if (service === gatewayService || served.has(key)) continue;
    problems.push({
      severity: "warning",
      file: serviceFiles.get(key) ?? "",
      resource: `Service ${service.metadata.namespace}/${service.metadata.name}`,
      message: `has no endpoints (requests to it get 503): add the annotation pilotfish.io/endpoints: "127.0.0.1:<port>" or an EndpointSlice`,
    });
  }
  return { ok: true, inputs, proxy, warnings: problems, files: paths };
}

/** Reads and parses the folder; an unreadable folder is a problem, not a throw. */
export function readConfigDir(dir: string, namespace = "default"): ConfigState {
  let files: ConfigFile[];
  try {
    files = readConfigFiles(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such folder" : code === "ENOTDIR" ? "not a folder" : error instanceof Error ? error.message : String(error);
    return { ok: false, problems: [{ severity: "error", file: dir, message: `cannot read the config folder: ${reason}` }], files: [] };
  }
  return configStateFromFiles(files, namespace);
}
