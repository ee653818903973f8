/**
 * Golden cases: `test/golden/<case>/in.yaml` (manifests; lines `# include: $LABS/<path>` add a
 * lab file read at run time) → `out.<kind>.json` for each non-empty resource kind and
 * `diagnostics.json` when there are diagnostics.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compileGateway } from "../../src/compile/compile.js";
import { defaultCompileOptions } from "../../src/compile/output.js";
import { defaultIngressGatewayProxy } from "../../src/model/proxy.js";
import type { CompileResult } from "../../src/compile/output.js";
import { buildSnapshot } from "../../src/model/snapshot.js";
import { findIngressGatewayService, parseManifests, proxyFromService } from "../../src/model/manifests.js";
import { labsDir } from "../support/labs.js";

export const goldenDir = dirname(fileURLToPath(import.meta.url));
export const outputKinds = ["listeners", "routes", "clusters", "endpoints", "secrets"] as const;

export interface GoldenCase {
  name: string;
  dir: string;
  /** Set when the case needs the labs and they are absent. */
  skip: string | false;
  compile(): CompileResult;
}

const includeLine = /^#\s*include:\s*(\S+)\s*$/gm;

function readInputs(dir: string): { texts: string[]; skip: string | false } {
  const text = readFileSync(join(dir, "in.yaml"), "utf8");
  const texts = [text];
  for (const match of text.matchAll(includeLine)) {
    const ref = match[1] ?? "";
    if (ref.startsWith("$LABS/")) {
      const labs = labsDir();
      if (!labs) return { texts, skip: "labs folder not found (set LABS_DIR)" };
      texts.push(readFileSync(join(labs, ref.slice("$LABS/".length)), "utf8"));
    } else {
      texts.push(readFileSync(join(dir, ref), "utf8"));
    }
  }
  return { texts, skip: false };
}

/** Options a case sets in `options.json` (e.g. the 1.17-style 503 retry). */
function readOptions(dir: string): typeof defaultCompileOptions {
  const path = join(dir, "options.json");
  if (!existsSync(path)) return defaultCompileOptions;
  return { ...defaultCompileOptions, ...(JSON.parse(readFileSync(path, "utf8")) as Partial<typeof defaultCompileOptions>) };
}

export function goldenCases(): GoldenCase[] {
  return readdirSync(goldenDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(goldenDir, entry.name, "in.yaml")))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const dir = join(goldenDir, name);
      const { texts, skip } = readInputs(dir);
      return {
        name,
        dir,
        skip,
        compile: () => {
          const namespace = existsSync(join(dir, "namespace")) ? readFileSync(join(dir, "namespace"), "utf8").trim() : "default";
          const { inputs } = parseManifests(texts, namespace);
          const gatewayService = findIngressGatewayService(inputs.services);
          const proxy = gatewayService ? proxyFromService(gatewayService) : defaultIngressGatewayProxy;
          return compileGateway(buildSnapshot(inputs), proxy, readOptions(dir));
        },
      };
    });
}

/** The files a result is stored as: name → JSON text. */
export function goldenFiles(result: CompileResult): Map<string, string> {
  const files = new Map<string, string>();
  for (const kind of outputKinds) {
    if (result.resources[kind].length > 0) files.set(`out.${kind}.json`, `${JSON.stringify(result.resources[kind], null, 2)}\n`);
  }
  if (result.diagnostics.length > 0) files.set("diagnostics.json", `${JSON.stringify(result.diagnostics, null, 2)}\n`);
  return files;
}

export function isGoldenOutput(file: string): boolean {
  return file === "diagnostics.json" || /^out\.[a-z]+\.json$/.test(file);
}
