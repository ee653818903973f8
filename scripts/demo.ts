/**
 * `make demo`: `pilotfish run` on examples/coolstore, with local upstreams standing in for the
 * pods, on one machine, no Kubernetes.
 *
 * 1. copies examples/coolstore to a temporary config folder (the demo's edits never touch the
 *    repository) and adds what a cluster would have: the TLS Secret webapp-credential
 *    (certificates generated now by the project's PKI, src/pki) and EndpointSlices naming the
 *    local upstreams;
 * 2. starts the bench's test upstreams: httpbin-like servers for webapp and catalog, the book's
 *    tcp-echo, and a TLS server with its own certificate for SNI passthrough;
 * 3. runs the standalone pipeline (`pilotfish run`: file source → compile → ADS → local Envoy)
 *    on that folder and prints curl lines that work as printed, and one line that edits a file
 *    and shows the change live. Ctrl-C stops everything and removes the temporary folder.
 *
 * Environment: DEMO_PORT_OFFSET (default 0: listeners on 8080, 8443, 31400, 15443, Istio's
 * gateway ports), DEMO_ADMIN_PORT (Envoy admin; default 0, any free port), ENVOY (binary; default
 * the bench's, then PATH).
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { findEnvoy } from "../src/cli/standalone/envoy-binary.js";
import { listenerTable, startStandalone } from "../src/cli/standalone/runner.js";
import type { Standalone } from "../src/cli/standalone/runner.js";
import { createCertificateChainSet } from "../src/pki/index.js";
import { repoRoot } from "../test/support/paths.js";
import { startHttpbin, startTcpEcho, startTlsServer } from "../test/support/upstreams/index.js";

const exampleDir = join(repoRoot, "examples", "coolstore");
const namespace = "istioinaction";
const loopback = "127.0.0.1";

function integerFromEnv(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (!text) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name}=${text}: expected a whole number from ${min} to ${max}`);
  return value;
}

function endpointSlice(service: string, portName: string, port: number): Record<string, unknown> {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${service}-local`, namespace, labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    ports: [{ name: portName, port }],
    endpoints: [{ addresses: [loopback], conditions: { ready: true } }],
  };
}

async function main(): Promise<void> {
  const portOffset = integerFromEnv("DEMO_PORT_OFFSET", 0, -8000, 30000);
  const adminPort = integerFromEnv("DEMO_ADMIN_PORT", 0, 0, 65535);
  const workDir = mkdtempSync(join(tmpdir(), "pilotfish-demo-"));
  const configDir = join(workDir, "config");
  const closers: (() => Promise<void>)[] = [];
  let standalone: Standalone | undefined;
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await standalone?.stop();
    for (const close of closers) await close().catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
    process.exit(code);
  };
  process.on("SIGINT", () => {
    console.log("\nstopping the demo");
    void stop(0);
  });
  process.on("SIGTERM", () => void stop(0));

  try {
    const envoyPath = findEnvoy(undefined);
    console.log("generating certificates and starting the local upstreams...");
    const webappPki = await createCertificateChainSet({ name: "pilotfish demo", serverHosts: ["webapp.istioinaction.io"] });
    const sniPki = await createCertificateChainSet({ name: "pilotfish demo passthrough", serverHosts: ["simple-sni-1.istioinaction.io"] });
    const webappCa = join(workDir, "webapp-ca.pem");
    const sniCa = join(workDir, "simple-sni-1-ca.pem");
    writeFileSync(webappCa, webappPki.server.caChainPem);
    writeFileSync(sniCa, sniPki.server.caChainPem);

    const webapp = await startHttpbin({ name: "webapp" });
    closers.push(() => webapp.close());
    const catalog = await startHttpbin({ name: "catalog" });
    closers.push(() => catalog.close());
    const echo = await startTcpEcho({ name: "tcp-echo" });
    closers.push(() => echo.close());
    const sni = await startTlsServer({ name: "simple-tls-service-1", cert: sniPki.server.fullChainPem, key: sniPki.server.privateKeyPem });
    closers.push(() => sni.close());

    mkdirSync(configDir);
    cpSync(exampleDir, configDir, { recursive: true, filter: (source) => !source.endsWith(".md") });
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "webapp-credential", namespace: "istio-system" },
      type: "kubernetes.io/tls",
      stringData: { "tls.crt": webappPki.server.fullChainPem, "tls.key": webappPki.server.privateKeyPem },
    };
    writeFileSync(join(configDir, "webapp-credential.yaml"), `# generated by make demo (src/pki); not in the repository\n${dump(secret, { lineWidth: -1 })}`);
    const slices = [
      endpointSlice("webapp", "http", webapp.port),
      endpointSlice("catalog", "http", catalog.port),
      endpointSlice("tcp-echo", "tcp", echo.port),
      endpointSlice("simple-tls-service-1", "https", sni.port),
    ];
    writeFileSync(join(configDir, "local-endpoints.yaml"), `# generated by make demo: the local upstreams standing in for the pods\n${slices.map((s) => dump(s)).join("---\n")}`);

    standalone = await startStandalone({
      configDir,
      envoyPath,
      address: loopback,
      portOffset,
      adminPort,
      xdsAddress: `${loopback}:0`,
      namespace,
      debounceMs: 150,
      envoyLogLevel: "error",
      info: (line) => console.log(line),
      problem: (line) => console.error(line),
    });
    void standalone.envoyExited.then((reason) => {
      console.error(`${reason}; stopping the demo`);
      void stop(1);
    });

    const http = 8080 + portOffset;
    const https = 8443 + portOffset;
    const tcp = 31400 + portOffset;
    const tls = 15443 + portOffset;
    const lines = [
      `curl -si -H 'Host: catalog.istioinaction.io' http://${loopback}:${http}/items   # 200 from catalog (plain HTTP)`,
      `curl -si --cacert ${webappCa} --resolve webapp.istioinaction.io:${https}:${loopback} https://webapp.istioinaction.io:${https}/api/catalog   # 200 from webapp over HTTPS (HTTP/2, certificate made at start)`,
      `curl -si -H 'Host: webapp.istioinaction.io' http://${loopback}:${http}/api/catalog   # 301 to https (httpsRedirect)`,
      `curl -si -H 'Host: unknown.istioinaction.io' http://${loopback}:${http}/   # 404: no VirtualService for this host`,
      `curl -si --cacert ${sniCa} --resolve simple-sni-1.istioinaction.io:${tls}:${loopback} https://simple-sni-1.istioinaction.io:${tls}/   # 200 from simple-tls-service-1: SNI passthrough, its own certificate`,
      `python3 -c "import socket; s = socket.create_connection(('${loopback}', ${tcp})); s.sendall(b'hello pilotfish\\n'); s.shutdown(socket.SHUT_WR); print(s.makefile().read())"   # TCP echo: a greeting, then hello pilotfish`,
    ];
    const liveEdit = `sed -i 's/host: catalog$/host: webapp/' ${join(configDir, "virtual-services.yaml")} && sleep 2 && curl -s -H 'Host: catalog.istioinaction.io' http://${loopback}:${http}/items   # live edit: catalog.istioinaction.io now answered by webapp`;
    console.log(
      [
        "",
        `pilotfish demo: pilotfish run on a copy of examples/coolstore in ${configDir}`,
        `  upstreams: webapp ${loopback}:${webapp.port}, catalog ${loopback}:${catalog.port}, tcp-echo ${loopback}:${echo.port}, simple-tls-service-1 ${loopback}:${sni.port}`,
        `  Envoy admin: http://${standalone.adminAddress}`,
        "  listeners:",
        ...listenerTable(standalone.listeners).map((line) => `  ${line}`),
        "",
        "Try:",
        ...lines.map((line) => `  ${line}`),
        "",
        "Edit the config live (the terminal running the demo prints what changed):",
        `  ${liveEdit}`,
        "",
        "Ctrl-C stops everything.",
      ].join("\n"),
    );
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    await stop(1);
  }
}

await main();
