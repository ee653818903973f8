/**
 * Scale in agent mode on the bench's real node (issue 11), run on purpose (it takes well over the
 * ~3 minutes a CI test may; the sharding itself is covered by test/unit/publish/compact.test.ts):
 *
 *   npx tsx bench/scale.ts              # 1,000 services, 100 TLS hosts
 *   npx tsx bench/scale.ts 200 20       # smaller
 *
 * test/e2e/scale.test.ts runs the same scenario small (250 services: `-rds` just over 1 MiB plain).
 *
 *   npx tsx bench/scale.ts host [1000 100]   # no node: the durable record alone, on the host
 *   PILOTFISH_AGENT_NODE_OPTIONS="--max-old-space-size=96" npx tsx bench/scale.ts host   # the agent's V8 flags
 *
 * host: the same Gateway, Services, EndpointSlices, VirtualServices and credentials compiled in
 * this process (the operator's compiler), planned for the agent (planPublish, compact form), the
 * objects written as kubelet projects them (a `..data` folder), then `pilotfish agent` with no
 * upstream (files only, as when the operator is down) and a real Envoy on its socket: time from
 * the agent's start to every host served (HTTP Host, HTTPS SNI), the agent's and Envoy's RSS.
 *
 * - the node's `fs.inotify.max_user_instances` set to 128 (restored afterwards);
 * - the operator on the host in agent mode (ADS on the node IP), the gateway Deployment of
 *   config/gateway/agent with 2 replicas;
 * - one upstream pod (the test upstream's httpbin); N selectorless Services, each with an
 *   EndpointSlice naming that pod and a VirtualService `svc-<i>.scale.example.com` → the Service
 *   (5 routes, bench/ads.ts's shape: 1,000 of them make a 4.5 MB route configuration);
 *   one Gateway with an HTTP server for every host and T HTTPS servers (SNI), each with its own
 *   credential issued by src/pki (one CA, ECDSA leaves);
 * - apply → every host served by *both* gateway pods (each pod by its IP: HTTP `Host`, HTTPS SNI
 *   and certificate checked);
 * - the published objects' sizes; the agent's and Envoy's RSS in each pod (from the host's /proc,
 *   by the pod's cgroup);
 * - the operator stopped, one gateway pod deleted: the new pod serves every host from its mounted
 *   objects alone (the durable record, compressed past 1 MiB: ADR 0018).
 */
import { readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump, loadAll } from "js-yaml";
import { symlinkSync, mkdirSync } from "node:fs";
import { compileGateway } from "../src/compile/compile.js";
import type { Gateway, VirtualService } from "../src/api/index.js";
import type { EndpointSlice, Secret, Service } from "../src/model/kube.js";
import { buildSnapshot } from "../src/model/snapshot.js";
import { gatewayBootstrap } from "../src/publish/bootstrap.js";
import { isCompressedKey, planPublish } from "../src/publish/plan.js";
import { createCa, issueCertificate } from "../src/pki/index.js";
import { cliNodeArgs } from "../test/support/cli.js";
import { startEnvoy } from "../test/support/envoy.js";
import { spawnManaged, stopManaged } from "../test/support/processes.js";
import { startHttpbin } from "../test/support/upstreams/index.js";
import { startCluster } from "../test/support/cluster.js";
import type { Cluster } from "../test/support/cluster.js";
import { installCrds } from "../test/support/crds.js";
import { freePort, httpRequest, waitFor } from "../test/support/net.js";
import { repoRoot } from "../test/support/paths.js";
import { operatorKubeconfig } from "../test/integration/operator/support/identity.js";
import { startOperator } from "../test/integration/operator/support/operator-process.js";
import type { OperatorProcess } from "../test/integration/operator/support/operator-process.js";

const ns = "scale";
const gatewayNs = "istio-system";
const proxy = "istio-ingressgateway";
const proxyName = proxy;
const xdsPort = 15010;
const inotifyFile = "/proc/sys/fs/inotify/max_user_instances";
const hostOf = (i: number): string => `svc-${i}.scale.example.com`;
type Manifest = Record<string, unknown>;

const log = (line: string): void => console.log(`# ${new Date().toISOString().slice(11, 19)} ${line}`);
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export interface ScaleOptions {
  services: number;
  tlsHosts: number;
}

export interface PublishedObject {
  kind: string;
  name: string;
  bytes: number;
  keys: string[];
}

export interface ScaleResult {
  /** Figure rows for the table (what, figure). */
  rows: [string, string][];
  objects: PublishedObject[];
  /** The replacement pod's agent log line for its start (what it served from the files). */
  replacementStart: string;
}

export async function runScale(options: ScaleOptions): Promise<ScaleResult> {
  const services = options.services;
  const tlsHosts = Math.min(services, options.tlsHosts);
  const published: PublishedObject[] = [];
  let replacementStart = "";
  const inotifyBefore = readFileSync(inotifyFile, "utf8").trim();
  writeFileSync(inotifyFile, "128\n");
  log(`fs.inotify.max_user_instances ${inotifyBefore} → 128 (restored at the end)`);
  const work = mkdtempSync(join(tmpdir(), "pilotfish-bench-scale-"));
  let cluster: Cluster | undefined;
  let operator: OperatorProcess | undefined;
  const rows: [string, string][] = [];
  try {
    cluster = await startCluster({ images: ["proxy", "test-upstream", "operator"] });
    const kube = cluster;
    log(`node ${kube.nodeIp} up in ${kube.startupMs} ms; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
    const kubectl = (args: readonly string[], input?: string, namespace = ns): Promise<string> => kube.kubectlOk(args, { namespace, ...(input === undefined ? {} : { input }) });
    await installCrds(kube);
    await kube.kubectlOk(["apply", "-f", join(repoRoot, "config", "rbac")]);
    await kube.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "00-namespace.yaml")]);
    await kube.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "service.yaml")]);
    await kube.kubectlOk(["create", "namespace", ns]);
    const operatorConfig = await operatorKubeconfig(kube, work);
    const debugPort = await freePort();
    const start = (name: string): Promise<OperatorProcess> =>
      startOperator({
        kubeconfig: operatorConfig,
        proxyConfigDir: "/etc/pilotfish/proxy",
        proxyAdminPort: 15000,
        proxyStatusPort: 15021,
        name,
        extraArgs: ["--gateway-mode", "agent", "--xds-address", `${kube.nodeIp}:${xdsPort}`, "--xds-plaintext", "--xds-auth", "none", "--xds-debug-addr", `127.0.0.1:${debugPort}`, "--log-level", "info"],
      });
    operator = await start("pilotfish-operator-scale");

    // The gateway: agent mode, 2 replicas, the agent reaching the operator on the node IP.
    // config/gateway is agent mode (the default); its agent speaks TLS to pilotfish.istio-system.svc,
    // this operator plaintext on the node IP (no cluster DNS on the bench).
    const gatewayDocs = loadAll(readFileSync(join(repoRoot, "config", "gateway", "deployment.yaml"), "utf8")) as Manifest[];
    for (const doc of gatewayDocs) {
      if (doc?.kind !== "Deployment") continue;
      const spec = doc.spec as { replicas: number; template: { spec: { initContainers?: { args?: string[] }[]; containers: { args?: string[] }[] } } };
      spec.replicas = 2;
      for (const container of [...(spec.template.spec.initContainers ?? []), ...spec.template.spec.containers]) {
        const at = container.args?.indexOf("--upstream") ?? -1;
        if (!container.args || at < 0) continue;
        container.args[at + 1] = `${kube.nodeIp}:${xdsPort}`;
        container.args.push("--upstream-plaintext");
      }
    }
    await kubectl(["apply", "-f", "-"], gatewayDocs.map((doc) => dump(doc)).join("---\n"), gatewayNs);

    // One upstream pod every Service's EndpointSlice names.
    await kubectl(["apply", "-f", "-"], dump({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "upstream", namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "upstream" } },
        template: {
          metadata: { labels: { app: "upstream" } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [{
              name: "httpbin", image: kube.images["test-upstream"], imagePullPolicy: "IfNotPresent",
              args: ["httpbin", "0.0.0.0", "8080", "$(POD_NAME)"],
              env: [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
              ports: [{ containerPort: 8080 }],
              readinessProbe: { httpGet: { path: "/status/200", port: 8080 }, periodSeconds: 1 },
            }],
          },
        },
      },
    }));
    await kubectl(["rollout", "status", "deployment/upstream", "--timeout=300s"]);
    const upstreamIp = (await kubectl(["get", "pods", "-l", "app=upstream", "-o", "jsonpath={.items[0].status.podIP}"])).trim();
    await kubectl(["rollout", "status", `deployment/${proxy}`, "--timeout=300s"], undefined, gatewayNs);
    log(`upstream ${upstreamIp}; gateway rolled out (2 replicas, nothing to serve yet)`);

    // Credentials from the project's own PKI.
    const issued = Date.now();
    const ca = await createCa({ commonName: "scale root", keyAlgorithm: "ecdsa-p256" });
    const secrets: Manifest[] = [];
    for (let i = 0; i < tlsHosts; i++) {
      const leaf = await issueCertificate(ca, { commonName: hostOf(i), dnsNames: [hostOf(i)], usage: "server", keyAlgorithm: "ecdsa-p256" });
      secrets.push({
        apiVersion: "v1", kind: "Secret", type: "kubernetes.io/tls", metadata: { name: `scale-cred-${i}`, namespace: gatewayNs },
        data: { "tls.crt": Buffer.from(leaf.fullChainPem).toString("base64"), "tls.key": Buffer.from(leaf.privateKeyPem).toString("base64") },
      });
    }
    log(`${tlsHosts} credentials issued in ${Date.now() - issued} ms`);

    const manifests: Manifest[] = [...secrets];
    manifests.push({
      apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name: "scale-gateway", namespace: ns },
      spec: {
        selector: { istio: "ingressgateway" },
        servers: [
          { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*.scale.example.com"] },
          ...Array.from({ length: tlsHosts }, (_, i) => ({ port: { number: 443, name: `https-${i}`, protocol: "HTTPS" }, hosts: [hostOf(i)], tls: { mode: "SIMPLE", credentialName: `scale-cred-${i}` } })),
        ],
      },
    });
    for (let i = 0; i < services; i++) {
      const name = `svc-${i}`;
      manifests.push({ apiVersion: "v1", kind: "Service", metadata: { name, namespace: ns }, spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
      manifests.push({
        apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name: `${name}-1`, namespace: ns, labels: { "kubernetes.io/service-name": name } },
        addressType: "IPv4", ports: [{ name: "http", port: 8080, protocol: "TCP" }], endpoints: [{ addresses: [upstreamIp], conditions: { ready: true } }],
      });
      manifests.push({
        apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name, namespace: ns },
        spec: { hosts: [hostOf(i)], gateways: ["scale-gateway"], http: routes(name) },
      });
    }
    const manifestFile = join(work, "scale.yaml");
    writeFileSync(manifestFile, manifests.map((doc) => dump(doc)).join("---\n"));
    const applyStarted = performance.now();
    await kube.kubectlOk(["apply", "--server-side", "-f", manifestFile]);
    const applied = performance.now();
    log(`kubectl apply of ${manifests.length} objects: ${Math.round(applied - applyStarted)} ms`);

    const podsOf = async (): Promise<{ name: string; ip: string; uid: string }[]> => {
      const json = JSON.parse(await kubectl(["get", "pods", "-l", "istio=ingressgateway", "-o", "json"], undefined, gatewayNs)) as { items: { metadata: { name: string; uid: string; deletionTimestamp?: string }; status: { podIP?: string; phase?: string } }[] };
      return json.items.filter((pod) => !pod.metadata.deletionTimestamp && pod.status.phase === "Running" && pod.status.podIP).map((pod) => ({ name: pod.metadata.name, ip: pod.status.podIP ?? "", uid: pod.metadata.uid }));
    };

    /** Every host over HTTP and every TLS host over HTTPS/SNI, through one pod; retried until all answer. */
    const servesEverything = async (pod: { name: string; ip: string }, timeoutMs: number): Promise<number> => {
      const started = performance.now();
      const pending = new Set<string>([...Array.from({ length: services }, (_, i) => `http ${i}`), ...Array.from({ length: tlsHosts }, (_, i) => `https ${i}`)]);
      const check = async (item: string): Promise<boolean> => {
        const [scheme, index] = item.split(" ") as [string, string];
        const host = hostOf(Number(index));
        const response = scheme === "http"
          ? await httpRequest({ url: `http://${pod.ip}:8080/status/200`, headers: { host }, timeoutMs: 5000 }).catch(() => undefined)
          : await httpRequest({ url: `https://${pod.ip}:8443/status/200`, headers: { host }, servername: host, ca: ca.certificatePem, timeoutMs: 5000 }).catch(() => undefined);
        return response?.status === 200 && (scheme === "http" || response.peerCertificate?.subjectCN === host);
      };
      let round = 0;
      while (pending.size > 0) {
        if (performance.now() - started > timeoutMs) throw new Error(`${pod.name}: ${pending.size} not served after ${timeoutMs} ms, e.g. ${[...pending].slice(0, 5).join(", ")}`);
        const items = [...pending];
        for (let offset = 0; offset < items.length; offset += 25) {
          const batch = items.slice(offset, offset + 25);
          const results = await Promise.all(batch.map(check));
          batch.forEach((item, index) => results[index] && pending.delete(item));
        }
        if (round++ % 5 === 0 || pending.size === 0) log(`${pod.name}: ${services + tlsHosts - pending.size} of ${services + tlsHosts} served`);
        if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      return performance.now() - started;
    };

    const pods = await podsOf();
    if (pods.length !== 2) throw new Error(`expected 2 gateway pods, found ${pods.length}`);
    await Promise.all(pods.map((pod) => servesEverything(pod, 900_000)));
    const allServed = performance.now();
    rows.push([`kubectl apply (${manifests.length} objects: ${services} Services + EndpointSlices + VirtualServices, ${tlsHosts} Secrets, 1 Gateway)`, `${Math.round(applied - applyStarted)} ms`]);
    rows.push([`apply exit → both pods serve all ${services} HTTP hosts and ${tlsHosts} HTTPS/SNI hosts`, `${Math.round(allServed - applied)} ms`]);

    // The published objects.
    const objects = JSON.parse(await kubectl(["get", "configmaps,secrets", "-l", `pilotfish.io/proxy=${proxy}`, "-o", "json"], undefined, gatewayNs)) as { items: { kind: string; metadata: { name: string }; data?: Record<string, string>; binaryData?: Record<string, string> }[] };
    for (const object of objects.items.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
      const text = Object.entries(object.data ?? {}).reduce((sum, [key, value]) => sum + key.length + (object.kind === "Secret" ? Buffer.byteLength(value, "base64") : Buffer.byteLength(value)), 0);
      const binary = Object.entries(object.binaryData ?? {}).reduce((sum, [key, value]) => sum + key.length + Buffer.byteLength(value, "base64"), 0);
      const keys = Object.keys({ ...object.data, ...object.binaryData });
      rows.push([`${object.kind} ${object.metadata.name}`, `${text + binary} B, ${keys.length} keys${keys.some((key) => key.endsWith(".gz")) ? ` (gzip: ${keys.filter((key) => key.endsWith(".gz")).length})` : ""}`]);
      published.push({ kind: object.kind, name: object.metadata.name, bytes: text + binary, keys });
    }

    const memory = (): string[] => pods.map((pod) => {
      const rss = rssByCommand(pod.uid);
      return `${pod.name}: agent ${rss.node ? mib(rss.node) : "?"}, Envoy ${rss.envoy ? mib(rss.envoy) : "?"}`;
    });
    rows.push(["RSS with the config served (VmRSS from /proc, by pod cgroup)", memory().join("; ")]);

    // The durable record: operator stopped, one pod deleted, the new one serves from its mounted objects.
    await operator.stop();
    operator = undefined;
    const victim = pods[0] as { name: string };
    const deleted = performance.now();
    await kubectl(["delete", "pod", victim.name, "--wait=true"], undefined, gatewayNs);
    const replacement = await waitFor(async () => (await podsOf()).find((pod) => !pods.some((old) => old.name === pod.name)), { timeoutMs: 300_000, intervalMs: 500, what: "the replacement gateway pod Running" });
    await servesEverything(replacement, 600_000);
    rows.push([`operator stopped, ${victim.name} deleted → ${replacement.name} serves every host from its mounted objects`, `${Math.round(performance.now() - deleted)} ms`]);
    const agentLog = await kubectl(["logs", replacement.name, "-c", "pilotfish-agent"], undefined, gatewayNs);
    replacementStart = /serving \S+ \(start\): [^\n]*/.exec(agentLog)?.[0] ?? /not serving[^\n]*/.exec(agentLog)?.[0] ?? "(no start line)";
    rows.push(["the replacement's agent at start", replacementStart.replace(/\|/g, "/")]);
    const rss = rssByCommand(replacement.uid);
    rows.push(["RSS of the replacement (files only, no upstream)", `agent ${rss.node ? mib(rss.node) : "?"}, Envoy ${rss.envoy ? mib(rss.envoy) : "?"}`]);
  } finally {
    await operator?.stop().catch(() => undefined);
    await cluster?.stop().catch((error: unknown) => log(`node stop: ${String(error)}`));
    writeFileSync(inotifyFile, `${inotifyBefore}\n`);
    rmSync(work, { recursive: true, force: true });
    log(`fs.inotify.max_user_instances restored to ${readFileSync(inotifyFile, "utf8").trim()}; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
  }
  return { rows, objects: published, replacementStart };
}

/** bench/ads.ts's VirtualService shape: 4 matched routes with retries and a default, all to the Service. */
function routes(service: string): Manifest[] {
  const destination = [{ destination: { host: service, port: { number: 80 } } }];
  return Array.from({ length: 5 }, (_, r) =>
    r === 4
      ? { route: destination, timeout: "5s" }
      : { match: [{ uri: { prefix: `/api/v${r}` }, headers: { "x-tenant": { exact: `t${r}` } } }], route: destination, retries: { attempts: 3, retryOn: "5xx" } },
  );
}

/** VmRSS of the pod's processes by command name (node = the agent, envoy), from the host's /proc. */
function rssByCommand(podUid: string): Record<string, number> {
  const out: Record<string, number> = {};
  const marks = [podUid, podUid.replaceAll("-", "_")];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cgroup = readFileSync(`/proc/${entry}/cgroup`, "utf8");
      if (!marks.some((mark) => cgroup.includes(mark))) continue;
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      const name = /^Name:\s+(\S+)/m.exec(status)?.[1] ?? "";
      const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
      if (name === "node" || name === "envoy") out[name] = (out[name] ?? 0) + rss;
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** The durable record alone, on the host: see the header. */
export async function runHostScale(options: ScaleOptions): Promise<[string, string][]> {
  const services = options.services;
  const tlsHosts = Math.min(services, options.tlsHosts);
  const rows: [string, string][] = [];
  const work = mkdtempSync(join(tmpdir(), "pilotfish-bench-scale-host-"));
  const httpbin = await startHttpbin({ name: "upstream" });
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  const cleanups: (() => Promise<unknown>)[] = [async () => httpbin.close()];
  try {
    const ca = await createCa({ commonName: "scale root", keyAlgorithm: "ecdsa-p256" });
    const secrets: Secret[] = [];
    for (let i = 0; i < tlsHosts; i++) {
      const leaf = await issueCertificate(ca, { commonName: hostOf(i), dnsNames: [hostOf(i)], usage: "server", keyAlgorithm: "ecdsa-p256" });
      secrets.push({ metadata: { name: `scale-cred-${i}`, namespace: gatewayNs }, type: "kubernetes.io/tls", data: { "tls.crt": Buffer.from(leaf.fullChainPem).toString("base64"), "tls.key": Buffer.from(leaf.privateKeyPem).toString("base64") } });
    }
    const gateway = {
      apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name: "scale-gateway", namespace: ns },
      spec: {
        selector: { istio: "ingressgateway" },
        servers: [
          { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*.scale.example.com"] },
          ...Array.from({ length: tlsHosts }, (_, i) => ({ port: { number: 443, name: `https-${i}`, protocol: "HTTPS" }, hosts: [hostOf(i)], tls: { mode: "SIMPLE", credentialName: `scale-cred-${i}` } })),
        ],
      },
    } as Gateway;
    const serviceList: Service[] = [];
    const slices: EndpointSlice[] = [];
    const virtualServices: VirtualService[] = [];
    for (let i = 0; i < services; i++) {
      const name = `svc-${i}`;
      serviceList.push({ metadata: { name, namespace: ns }, spec: { ports: [{ name: "http", port: 80, targetPort: httpbin.port }] } });
      slices.push({ metadata: { name: `${name}-1`, namespace: ns, labels: { "kubernetes.io/service-name": name } }, addressType: "IPv4", ports: [{ name: "http", port: httpbin.port }], endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }] });
      virtualServices.push({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name, namespace: ns }, spec: { hosts: [hostOf(i)], gateways: ["scale-gateway"], http: routes(name) } } as VirtualService);
    }
    const proxy = { name: proxyName, namespace: gatewayNs, labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: httpPort }, { port: 443, targetPort: httpsPort }] };
    const compiled = compileGateway(buildSnapshot({ gateways: [gateway], virtualServices, services: serviceList, endpointSlices: slices, secrets }), proxy).resources;
    // The pod's listeners bind 0.0.0.0; on the shared host, loopback only.
    const resources = { ...compiled, listeners: JSON.parse(JSON.stringify(compiled.listeners).replaceAll('"address":"0.0.0.0"', '"address":"127.0.0.1"')) as typeof compiled.listeners };
    const configDir = join(work, "proxy");
    const socket = join(work, "agent.sock");
    const bootstrap = gatewayBootstrap({ mode: "agent", agentSocket: socket, configDir, adminPort: await freePort(), statusPort: await freePort(), proxyName, proxyNamespace: gatewayNs });
    const planStarted = performance.now();
    const planned = planPublish(resources, { namespace: gatewayNs, name: proxyName, uid: "bench" }, { configDir, bootstrapYaml: dump(bootstrap), maxFileSubscriptions: Number.MAX_SAFE_INTEGER, reader: "agent" });
    if (!planned.ok) throw new Error(`not published: ${planned.message}`);
    rows.push([`planPublish for the agent (${resources.routes.length} route configs, ${resources.clusters.length} clusters, ${resources.secrets.length} secrets)`, `${Math.round(performance.now() - planStarted)} ms`]);
    // kubelet's layout: the files in a timestamped folder, `..data` → it, a top-level link per key.
    const version = join(configDir, "..2026_01_01_00_00_00.000000001");
    mkdirSync(version, { recursive: true });
    for (const object of planned.plan.objects) {
      const keys = Object.keys(object.data);
      rows.push([`${object.kind} ${object.name}`, `${object.bytes} B, ${keys.length} keys${keys.some(isCompressedKey) ? ` (gzip: ${keys.filter(isCompressedKey).length})` : ""}`]);
      for (const [key, value] of Object.entries(object.data)) {
        writeFileSync(join(version, key), isCompressedKey(key) ? Buffer.from(value, "base64") : Buffer.from(value, "utf8"));
        symlinkSync(join("..data", key), join(configDir, key));
      }
    }
    symlinkSync("..2026_01_01_00_00_00.000000001", join(configDir, "..data"));

    const agentStarted = performance.now();
    const agent = spawnManaged(process.execPath, [...cliNodeArgs(), "agent", "--listen", socket, "--config-dir", configDir, "--upstream", "off", "--namespace", gatewayNs, "--workload-name", proxyName, "--pod-name", `${proxyName}-5d8f7c9b4-x2kqv`], { name: "agent", cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: process.env.PILOTFISH_AGENT_NODE_OPTIONS ?? "" } });
    cleanups.unshift(async () => stopManaged(agent));
    const envoy = await startEnvoy({ bootstrap, name: "bench-scale-envoy", readyTimeoutMs: 300_000 });
    cleanups.unshift(async () => envoy.stop());
    const served = await servesAll({ ip: "127.0.0.1", name: "agent + Envoy (files only)" }, { services, tlsHosts, httpPort, httpsPort, ca: ca.certificatePem, path: "/status/200" }, 600_000);
    rows.push([`agent start (files only) → Envoy serves all ${services} HTTP and ${tlsHosts} HTTPS/SNI hosts`, `${Math.round(performance.now() - agentStarted)} ms (the check itself ${Math.round(served)} ms)`]);
    const agentLine = /serving \S+ \(start\): [^\n]*/.exec(agent.output.text())?.[0] ?? "(no start line)";
    rows.push(["the agent at start", agentLine.replace(work, "<tmp>")]);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    rows.push(["agent RSS (the CLI bundle as tests run it, not the image's dist)", mib(rssOf(agent.child.pid ?? 0))]);
    rows.push(["Envoy RSS", mib(rssOf(envoy.process.child.pid ?? 0))]);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

function rssOf(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
}

interface ServeCheck {
  services: number;
  tlsHosts: number;
  httpPort: number;
  httpsPort: number;
  ca: string;
  path: string;
}

/** Every host over HTTP and every TLS host over HTTPS/SNI at one address; retried until all answer. */
async function servesAll(target: { name: string; ip: string }, check: ServeCheck, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const pending = new Set<string>([...Array.from({ length: check.services }, (_, i) => `http ${i}`), ...Array.from({ length: check.tlsHosts }, (_, i) => `https ${i}`)]);
  const one = async (item: string): Promise<boolean> => {
    const [scheme, index] = item.split(" ") as [string, string];
    const host = hostOf(Number(index));
    const response = scheme === "http"
      ? await httpRequest({ url: `http://${target.ip}:${check.httpPort}${check.path}`, headers: { host }, timeoutMs: 5000 }).catch(() => undefined)
      : await httpRequest({ url: `https://${target.ip}:${check.httpsPort}${check.path}`, headers: { host }, servername: host, ca: check.ca, timeoutMs: 5000 }).catch(() => undefined);
    return response?.status === 200 && (scheme === "http" || response.peerCertificate?.subjectCN === host);
  };
  let round = 0;
  while (pending.size > 0) {
    if (performance.now() - started > timeoutMs) throw new Error(`${target.name}: ${pending.size} not served after ${timeoutMs} ms, e.g. ${[...pending].slice(0, 5).join(", ")}`);
    const items = [...pending];
    for (let offset = 0; offset < items.length; offset += 25) {
      const batch = items.slice(offset, offset + 25);
      const results = await Promise.all(batch.map(one));
      batch.forEach((item, index) => results[index] && pending.delete(item));
    }
    if (round++ % 5 === 0 || pending.size === 0) log(`${target.name}: ${check.services + check.tlsHosts - pending.size} of ${check.services + check.tlsHosts} served`);
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return performance.now() - started;
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === "host") {
  const services = Number(process.argv[3] ?? 1000);
  const tlsHosts = Number(process.argv[4] ?? 100);
  const rows = await runHostScale({ services, tlsHosts });
  console.log(`\n| scale on the host, the durable record alone (${services} services, ${tlsHosts} TLS hosts; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}) | figure |\n|---|---|`);
  for (const [what, figure] of rows) console.log(`| ${what} | ${figure} |`);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const services = Number(process.argv[2] ?? 1000);
  const tlsHosts = Number(process.argv[3] ?? 100);
  const result = await runScale({ services, tlsHosts });
  console.log(`\n| scale, agent mode, 2 replicas, inotify 128 (${services} services, ${tlsHosts} TLS hosts) | figure |\n|---|---|`);
  for (const [what, figure] of result.rows) console.log(`| ${what} | ${figure} |`);
}
