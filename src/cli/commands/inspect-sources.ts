/**
 * Where explain, proxy-config and analyze get their config from: manifest files compiled by the
 * same compiler as the operator's, or a running Envoy's admin /config_dump. The edges (files,
 * HTTP) live here; everything they feed is pure (src/explain).
 */
import { readFileSync } from "node:fs";
import { compileGateway } from "../../compile/compile.js";
import { defaultCompileOptions } from "../../compile/output.js";
import type { Diagnostic } from "../../compile/output.js";
import type { EnvoyResources } from "../../envoy/resources.js";
import { findIngressGatewayService, parseManifests, proxyFromService } from "../../model/manifests.js";
import { defaultIngressGatewayProxy } from "../../model/proxy.js";
import type { GatewayProxy } from "../../model/proxy.js";
import { buildSnapshot } from "../../model/snapshot.js";
import type { Snapshot } from "../../model/snapshot.js";
import { resourcesFromConfigDump } from "../../explain/config-dump.js";
import type { DumpedResources } from "../../explain/config-dump.js";
import { explainContext } from "../../explain/hints.js";
import type { ExplainContext } from "../../explain/trace.js";
import { collectFiles } from "./analyze.js";
import { forwardToPod, parsePodTarget } from "../port-forward.js";
import { withProgress } from "../progress.js";

export interface CompiledInputs {
  resources: EnvoyResources;
  context: ExplainContext;
  diagnostics: Diagnostic[];
  snapshot: Snapshot;
  proxy: GatewayProxy;
}

/** Reads every manifest under the paths (like `compile -f`) and compiles the ingress gateway's config. */
export function compileFiles(paths: readonly string[], namespace: string): CompiledInputs {
  const files = collectFiles(paths);
  if (files.length === 0) throw new Error(`no manifest (.yaml, .yml, .json) found in ${paths.join(", ")}`);
  const texts = files.map((file) => {
    try {
      return readFileSync(file, "utf8");
    } catch (error) {
      throw new Error(`cannot read ${file}: ${(error as Error).message}`);
    }
  });
  let inputs;
  try {
    inputs = parseManifests(texts, namespace).inputs;
  } catch (error) {
    throw new Error(`invalid YAML in ${paths.join(", ")}: ${(error as Error).message.split("\n")[0]}`);
  }
  const service = findIngressGatewayService(inputs.services);
  const proxy = service ? proxyFromService(service) : defaultIngressGatewayProxy;
  const snapshot = buildSnapshot(inputs);
  const result = compileGateway(snapshot, proxy, defaultCompileOptions);
  return { resources: result.resources, context: explainContext(snapshot, proxy, result.diagnostics), diagnostics: result.diagnostics, snapshot, proxy };
}

/** "host:port", "port" or a URL → the admin base URL. */
export function adminBaseUrl(address: string): string {
  if (/^https?:\/\//.test(address)) return address.replace(/\/+$/, "");
  if (/^\d+$/.test(address)) return `http://127.0.0.1:${address}`;
  return `http://${address}`;
}

export async function fetchText(url: string, what: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new Error(`cannot reach ${what} at ${url}: ${cause} (is the address right and the process running?)`);
  }
  const body = await response.text();
  if (!response.ok) throw new Error(`${what} at ${url} answered ${response.status}: ${body.slice(0, 200)}`);
  return body;
}

/** A live Envoy's resources, endpoints included. */
export async function fetchConfigDump(adminAddress: string): Promise<DumpedResources> {
  const url = `${adminBaseUrl(adminAddress)}/config_dump?include_eds`;
  const text = await fetchText(url, "the Envoy admin endpoint");
  try {
    return resourcesFromConfigDump(JSON.parse(text));
  } catch (error) {
    throw new Error(`${url} did not return a config dump: ${(error as Error).message}`);
  }
}

/**
 * A live proxy's resources, for explain and proxy-config: from a running Envoy's admin address, or
 * from a pod's admin port through the Kubernetes API's port-forward (closed afterwards), with progress.
 */
export async function liveProxyResources(source: { adminAddr?: string; proxy?: string; kubeconfig?: string; adminPort: number; verbose?: boolean }): Promise<EnvoyResources> {
  return withProgress(source.verbose, async (progress) => {
    if (source.adminAddr !== undefined) {
      progress.phase(`reading Envoy's /config_dump at ${source.adminAddr}`);
      return (await fetchConfigDump(source.adminAddr)).resources;
    }
    const forwarded = await forwardToPod(source.kubeconfig, parsePodTarget(source.proxy ?? "", "istio-system"), source.adminPort, progress);
    try {
      progress.phase(`reading Envoy's /config_dump through ${forwarded.address}`);
      return (await fetchConfigDump(forwarded.address)).resources;
    } finally {
      await forwarded.close();
    }
  });
}
