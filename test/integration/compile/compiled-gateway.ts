/**
 * Test helper: compile manifests for a gateway proxy, write the file layout to a temp folder and
 * start a real Envoy on it. Listeners are moved to 127.0.0.1 on free ports (tests stay on
 * loopback): the proxy's Service maps each Gateway server port to a free target port.
 */
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { compileGateway } from "../../../src/compile/compile.js";
import type { CompileResult } from "../../../src/compile/output.js";
import type { GatewayProxy } from "../../../src/model/proxy.js";
import { defaultCompileOptions } from "../../../src/compile/output.js";
import type { CompileOptions } from "../../../src/compile/output.js";
import { fileBootstrap } from "../../../src/envoy/bootstrap.js";
import { fileLayout } from "../../../src/envoy/layout.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import { parseManifests } from "../../../src/model/manifests.js";
import { startEnvoy } from "../../support/envoy.js";
import type { Envoy } from "../../support/envoy.js";
import { freePort } from "../../support/net.js";
import { cleanupAtExit } from "../../support/processes.js";

export interface CompiledGateway {
  envoy: Envoy;
  /** Gateway server port → the loopback port Envoy listens on. */
  port(serverPort: number): number;
  url(serverPort: number, path: string): string;
  result: CompileResult;
  /** Recompiles and rewrites the files; returns the names of files whose content changed. */
  update(manifests: string[]): Promise<string[]>;
  stop(): Promise<void>;
}

/** A Service with one port and an EndpointSlice listing the given upstream addresses. */
export function serviceManifest(name: string, namespace: string, port: number, upstreams: { host: string; port: number }[]): string {
  // One slice carries one port number, so a test service's upstreams share theirs.
  const targetPort = upstreams[0]?.port ?? port;
  const docs = [
    { apiVersion: "v1", kind: "Service", metadata: { name, namespace }, spec: { ports: [{ name: "http", port, targetPort }] } },
    {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${name}-slice`, namespace, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: "http", port: targetPort }],
      endpoints: upstreams.map((upstream) => ({ addresses: [upstream.host], conditions: { ready: true } })),
    },
  ];
  return docs.map((doc) => dump(doc)).join("---\n");
}

function writeLayout(dir: string, result: CompileResult): string[] {
  const changed: string[] = [];
  const files = fileLayout(result.resources, dir).map((file) => ({
    ...file,
    // Test-only: bind on loopback instead of 0.0.0.0.
    content: file.name === "lds.yaml" ? file.content.replaceAll("address: 0.0.0.0", "address: 127.0.0.1") : file.content,
  }));
  const names = new Set(files.map((file) => file.name));
  for (const file of files) {
    const path = join(dir, file.name);
    let previous: string | undefined;
    try {
      previous = readFileSync(path, "utf8");
    } catch {
      previous = undefined;
    }
    if (previous === file.content) continue;
    changed.push(file.name);
    // Atomic replace: Envoy's watched_directory reloads on a move into the folder.
    const temporary = join(dir, `.${file.name}.tmp`);
    writeFileSync(temporary, file.content);
    renameSync(temporary, path);
  }
  for (const existing of readdirSync(dir)) if (!existing.startsWith(".") && !names.has(existing)) rmSync(join(dir, existing));
  return changed.sort();
}

export async function startCompiledGateway(options: {
  name: string;
  manifests: string[];
  namespace?: string;
  serverPorts?: number[];
  compileOptions?: CompileOptions;
}): Promise<CompiledGateway> {
  const serverPorts = options.serverPorts ?? [80];
  const proxy: GatewayProxy = {
    name: "istio-ingressgateway",
    namespace: "istio-system",
    labels: { istio: "ingressgateway", app: "istio-ingressgateway" },
    servicePorts: [],
  };
  for (const serverPort of serverPorts) proxy.servicePorts.push({ port: serverPort, targetPort: await freePort() });
  const compile = (manifests: string[]): CompileResult =>
    compileGateway(buildSnapshot(parseManifests(manifests, options.namespace ?? "default").inputs), proxy, options.compileOptions ?? defaultCompileOptions);

  const dir = mkdtempSync(join(tmpdir(), `pilotfish-${options.name}-config-`));
  const cancelCleanup = cleanupAtExit(() => rmSync(dir, { recursive: true, force: true }));
  let result = compile(options.manifests);
  writeLayout(dir, result);
  const envoy = await startEnvoy({ bootstrap: fileBootstrap(dir, { adminPort: 0 }), name: options.name });
  const port = (serverPort: number): number => {
    const found = proxy.servicePorts.find((p) => p.port === serverPort)?.targetPort;
    if (found === undefined) throw new Error(`no listener for server port ${serverPort}`);
    return found;
  };
  const gateway: CompiledGateway = {
    envoy,
    port,
    url: (serverPort, path) => `http://127.0.0.1:${port(serverPort)}${path}`,
    get result() {
      return result;
    },
    async update(manifests) {
      result = compile(manifests);
      return writeLayout(dir, result);
    },
    async stop() {
      await envoy.stop();
      cancelCleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return gateway;
}
