/**
 * `make demo`: the coolstore example end to end on one machine, no Kubernetes.
 *
 * 1. generates a CA and a certificate for webapp.istioinaction.io with the project's PKI;
 * 2. starts two local HTTP servers standing in for the webapp and catalog pods;
 * 3. compiles examples/coolstore (plus the generated Secret and EndpointSlices for the local
 *    servers) with pilotfish's gateway compiler, writes the file layout Envoy reads;
 * 4. starts Envoy on it (listeners on 127.0.0.1 only) and prints curl lines that work as
 *    printed; Ctrl-C stops everything and removes the temporary folder.
 *
 * This is a static compile: editing the example files does not change the running Envoy
 * (live standalone mode comes later). Environment: DEMO_HTTP_PORT (default 8080),
 * DEMO_HTTPS_PORT (8443), ENVOY (path of the envoy binary; default: the bench's, then PATH).
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { dump } from "js-yaml";
import { compileGateway } from "../src/compile/compile.js";
import type { Diagnostic } from "../src/compile/output.js";
import type { GatewayProxy } from "../src/model/proxy.js";
import { fileBootstrap } from "../src/envoy/bootstrap.js";
import { fileLayout } from "../src/envoy/layout.js";
import { parseManifests } from "../src/model/manifests.js";
import { buildSnapshot } from "../src/model/snapshot.js";
import { createCertificateChainSet } from "../src/pki/index.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const exampleDir = join(repoRoot, "examples", "coolstore");
const namespace = "istioinaction";
const loopback = "127.0.0.1";

function portFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (!text) return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`${name}=${text} is not a port number`);
  return port;
}

function envoyBinary(): string {
  if (process.env.ENVOY) return process.env.ENVOY;
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  const bench = join(process.env.PILOTFISH_BENCH_DIR ?? join(cache, "pilotfish-bench"), "bin", "envoy");
  return existsSync(bench) ? bench : "envoy";
}

/** A stand-in pod: answers every request with JSON naming the service and the path. */
async function startUpstream(service: string): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    request.resume();
    response.writeHead(200, { "content-type": "application/json", "x-upstream": service });
    response.end(`${JSON.stringify({ service, path: request.url, host: request.headers.host })}\n`);
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(0, loopback, () => done());
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("upstream has no TCP address");
  return { server, port: address.port };
}

function endpointSlice(service: string, port: number): string {
  return dump({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${service}-demo`, namespace, labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    ports: [{ name: "http", port }],
    endpoints: [{ addresses: [loopback], conditions: { ready: true } }],
  });
}

function exampleManifests(): string[] {
  return readdirSync(exampleDir)
    .filter((file) => file.endsWith(".yaml"))
    .sort()
    .map((file) => readFileSync(join(exampleDir, file), "utf8"));
}

function printDiagnostics(diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) console.log(`  ${d.severity}: ${d.kind} ${d.namespace}/${d.name} ${d.field}: ${d.message}`);
}

async function main(): Promise<void> {
  const httpPort = portFromEnv("DEMO_HTTP_PORT", 8080);
  const httpsPort = portFromEnv("DEMO_HTTPS_PORT", 8443);
  const workDir = mkdtempSync(join(tmpdir(), "pilotfish-demo-"));
  const configDir = join(workDir, "config");
  const children: ChildProcess[] = [];
  const servers: Server[] = [];
  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
    for (const server of servers) server.close();
    rmSync(workDir, { recursive: true, force: true });
    process.exit(code);
  };
  process.on("SIGINT", () => {
    console.log("\nstopping the demo");
    stop(0);
  });
  process.on("SIGTERM", () => stop(0));

  try {
    const pki = await createCertificateChainSet({ name: "pilotfish demo", serverHosts: ["webapp.istioinaction.io"] });
    const caFile = join(workDir, "ca-chain.pem");
    writeFileSync(caFile, pki.server.caChainPem);

    const webapp = await startUpstream("webapp");
    const catalog = await startUpstream("catalog");
    servers.push(webapp.server, catalog.server);

    const secret = dump(
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "webapp-credential", namespace: "istio-system" },
        type: "kubernetes.io/tls",
        stringData: { "tls.crt": pki.server.fullChainPem, "tls.key": pki.server.privateKeyPem },
      },
      { lineWidth: -1 },
    );
    const manifests = [...exampleManifests(), secret, endpointSlice("webapp", webapp.port), endpointSlice("catalog", catalog.port)];
    const proxy: GatewayProxy = {
      name: "istio-ingressgateway",
      namespace: "istio-system",
      labels: { istio: "ingressgateway", app: "istio-ingressgateway" },
      servicePorts: [
        { name: "http2", port: 80, targetPort: httpPort },
        { name: "https", port: 443, targetPort: httpsPort },
      ],
    };
    const result = compileGateway(buildSnapshot(parseManifests(manifests, namespace).inputs), proxy);
    if (result.diagnostics.length > 0) {
      console.log("pilotfish diagnostics:");
      printDiagnostics(result.diagnostics);
    }
    // Write the files Envoy reads; listeners bind loopback only (the compiler says 0.0.0.0).
    mkdirSync(configDir);
    for (const file of fileLayout(result.resources, configDir)) {
      const content = file.name === "lds.yaml" ? file.content.replaceAll("address: 0.0.0.0", `address: ${loopback}`) : file.content;
      writeFileSync(join(configDir, file.name), content);
    }
    const bootstrapPath = join(workDir, "bootstrap.json");
    writeFileSync(bootstrapPath, JSON.stringify(fileBootstrap(configDir, { adminPort: 0 }), null, 2));

    const envoy = spawn(
      envoyBinary(),
      ["-c", bootstrapPath, "--log-level", "error", "--concurrency", "1", "--use-dynamic-base-id", "--base-id-path", join(workDir, "base-id")],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
    children.push(envoy);
    envoy.on("error", (error) => {
      console.error(`could not start Envoy (${error.message}); run 'make testenv' or set ENVOY=/path/to/envoy`);
      stop(1);
    });
    envoy.on("exit", (code, signal) => {
      if (!stopping) {
        console.error(`Envoy exited (${code ?? signal}); stopping the demo`);
        stop(1);
      }
    });
    await waitForPort(httpPort, envoy);
    await waitForPort(httpsPort, envoy);

    const lines = [
      `curl -si -H 'Host: catalog.istioinaction.io' http://${loopback}:${httpPort}/items   # 200 from catalog (plain HTTP)`,
      `curl -si --cacert ${caFile} --resolve webapp.istioinaction.io:${httpsPort}:${loopback} https://webapp.istioinaction.io:${httpsPort}/api/catalog   # 200 from webapp over HTTPS (HTTP/2)`,
      `curl -si -H 'Host: webapp.istioinaction.io' http://${loopback}:${httpPort}/api/catalog   # 301 to https (httpsRedirect)`,
      `curl -si -H 'Host: unknown.istioinaction.io' http://${loopback}:${httpPort}/   # 404: no VirtualService for this host`,
    ];
    console.log(
      [
        "",
        "pilotfish demo: examples/coolstore compiled to Envoy config (a static compile; live standalone mode comes later)",
        `  upstreams: webapp on ${loopback}:${webapp.port}, catalog on ${loopback}:${catalog.port}`,
        `  Envoy: HTTP on ${loopback}:${httpPort}, HTTPS on ${loopback}:${httpsPort}; config in ${configDir}`,
        "",
        "Try:",
        ...lines.map((line) => `  ${line}`),
        "",
        "Ctrl-C stops everything.",
      ].join("\n"),
    );
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    stop(1);
  }
}

/** Waits until Envoy accepts connections on the port (its listeners load after startup). */
async function waitForPort(port: number, envoy: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (envoy.exitCode !== null) throw new Error("Envoy exited before its listeners came up");
    const open = await new Promise<boolean>((done) => {
      const socket = connect({ host: loopback, port }, () => {
        socket.destroy();
        done(true);
      });
      socket.on("error", () => done(false));
    });
    if (open) return;
    await new Promise((wait) => setTimeout(wait, 100));
  }
  throw new Error(`Envoy did not listen on ${loopback}:${port} within 20 s`);
}

await main();
