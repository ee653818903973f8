/**
 * The injection webhook under load (issue 12's bench line; run on purpose, not a test):
 *
 *   npx tsx bench/webhook.ts                       # both parts below, 200 in flight, 4,000 reviews
 *   npx tsx bench/webhook.ts cpu [reviews]         # in-process CPU per review only
 *   npx tsx bench/webhook.ts load [--inflight 1,200] [--reviews 4000] [--workers 1] [--floor] [--tsx] [--built] [--profile]
 *
 * - cpu: what the event loop spends per review besides TLS and HTTP (JSON parse of the
 *   AdmissionReview, the injection, the answer's JSON), per kind of pod, median of 7 runs, in
 *   CPU time (process.cpuUsage), in this process, from src/ through tsx.
 * - load: the webhook server (src/webhook/server.ts, configured as the operator configures it:
 *   the review-duration observer and a debug line per review at info level) runs in its own
 *   process; this process is the apiserver: kept-alive HTTPS connections (one per request in
 *   flight, reused as the apiserver's HTTP/1.1 transport reuses them), a closed loop keeping
 *   `--inflight` AdmissionReviews in flight until `--reviews` are answered, after a warm-up that
 *   opens the connections and checks every kind of answer (patch applied with fast-json-patch).
 *   The bodies are AdmissionReview v1 as the apiserver sends them for a ReplicaSet's pod CREATE:
 *   userInfo, managedFields (set before mutating admission), the ServiceAccount admission's
 *   kube-api-access volume and mounts, several containers, probes, env, init containers on
 *   some; 80% to inject, 10% already injected (reinvocation), 10% opted out.
 *   Prints, per in-flight level: client-side p50/p95/p99/max, reviews/s, server CPU µs per
 *   review (the server process's user+system time over the run / reviews), the server's own
 *   last-body-byte → answer p50/p99, and the load average.
 *   `--workers N` runs the server as N node:cluster workers sharing the port (docs/adr/0015).
 *   The server runs from dist/ (built first with tsc, as the operator's image runs it); `--tsx`
 *   runs it from src/ through tsx instead (whose keep-names wrappers cost a little per call);
 *   `--built` skips the build (dist/ is current).
 *   `--floor` answers a canned answer of the same size without reviewing: Node's own TLS + HTTP cost.
 *   `--profile` writes the server's .cpuprofile into ./profiles (open in Chrome DevTools).
 */
import { execFileSync, fork } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import cluster from "node:cluster";
import https from "node:https";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import jsonpatch from "fast-json-patch";
import type { Operation } from "fast-json-patch";
import { createCa, issueCertificate } from "../src/pki/index.js";
import { defaultInjectionSettings } from "../src/webhook/inject/inject.js";
import type { InjectionSettings, JsonObject } from "../src/webhook/inject/inject.js";
import { answerText, injectReview } from "../src/webhook/inject/review.js";
import type * as ServerModule from "../src/webhook/server.js";
import type { ServingCertificate } from "../src/webhook/server.js";
import type * as LogModule from "../src/controllers/log.js";
import { freePort } from "../test/support/net.js";
import { repoRoot } from "../test/support/paths.js";

// ---------------------------------------------------------------------------------------------
// Realistic AdmissionReviews

type PodKind = "inject" | "reinvocation" | "opted-out";

interface Sample {
  kind: PodKind;
  pod: JsonObject;
  /** The AdmissionReview with the uid cut out: `${head}${uid}${tail}`. */
  head: string;
  tail: string;
}

const apps = [
  { name: "web", version: "v3", containers: ["web", "log-shipper"], port: 8080 },
  { name: "cart", version: "v1", containers: ["cart"], port: 9090 },
  { name: "checkout", version: "v7", containers: ["checkout", "metrics-exporter", "cloudsql-proxy"], port: 8443 },
  { name: "search", version: "v2", containers: ["search", "warmer"], port: 7000 },
] as const;

function container(name: string, image: string, port: number, index: number): JsonObject {
  return {
    name,
    image: `registry.example/${image}@sha256:${"0123456789abcdef".repeat(4)}`,
    imagePullPolicy: "IfNotPresent",
    args: ["--listen", `:${port + index}`, "--log-format", "json"],
    env: [
      { name: "APP_ENV", value: "production" },
      { name: "LOG_LEVEL", value: "info" },
      { name: "POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } },
      { name: "POD_IP", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "status.podIP" } } },
      { name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: `${name}-db`, key: "password" } } },
      { name: "GOMAXPROCS", valueFrom: { resourceFieldRef: { resource: "limits.cpu", divisor: "1" } } },
    ],
    ports: [{ name: index === 0 ? "http" : `http-${name}`.slice(0, 15), containerPort: port + index, protocol: "TCP" }],
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "1", memory: "512Mi" } },
    readinessProbe: { httpGet: { path: "/ready", port: port + index, scheme: "HTTP" }, periodSeconds: 5, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    livenessProbe: { httpGet: { path: "/live", port: port + index, scheme: "HTTP" }, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    volumeMounts: [
      { name: "config", mountPath: "/etc/app", readOnly: true },
      { name: "kube-api-access-7xk2p", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true },
    ],
    securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, runAsUser: 10001 },
    terminationMessagePath: "/dev/termination-log",
    terminationMessagePolicy: "File",
  };
}

/** What kube-controller-manager's create records in managedFields (a shortened FieldsV1 of the spec). */
function managedFields(containers: string[]): Json[] {
  const fields: Record<string, unknown> = {
    "f:metadata": { "f:generateName": {}, "f:labels": { ".": {}, "f:app": {}, "f:pod-template-hash": {}, "f:version": {} }, "f:ownerReferences": { ".": {}, 'k:{"uid":"5f0e2c1a-4b7d-4e38-9a52-0c6d1f7e8b90"}': {} } },
    "f:spec": {
      "f:containers": Object.fromEntries(
        containers.map((name) => [
          `k:{"name":"${name}"}`,
          { ".": {}, "f:args": {}, "f:env": { ".": {}, 'k:{"name":"APP_ENV"}': { ".": {}, "f:name": {}, "f:value": {} } }, "f:image": {}, "f:imagePullPolicy": {}, "f:livenessProbe": {}, "f:name": {}, "f:ports": {}, "f:readinessProbe": {}, "f:resources": {}, "f:securityContext": {}, "f:volumeMounts": {} },
        ]),
      ),
      "f:dnsPolicy": {},
      "f:enableServiceLinks": {},
      "f:restartPolicy": {},
      "f:schedulerName": {},
      "f:securityContext": {},
      "f:terminationGracePeriodSeconds": {},
      "f:volumes": { ".": {}, 'k:{"name":"config"}': { ".": {}, "f:configMap": {}, "f:name": {} } },
    },
  };
  return [{ manager: "kube-controller-manager", operation: "Update", apiVersion: "v1", time: "2026-11-22T05:00:00Z", fieldsType: "FieldsV1", fieldsV1: fields as Json }];
}
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function deploymentPod(index: number, kind: PodKind): JsonObject {
  const app = apps[index % apps.length] ?? apps[0];
  const hash = `${(0x5d4f8c7b9 + index).toString(16).slice(0, 9)}`;
  const labels: JsonObject = { app: app.name, version: app.version, "pod-template-hash": hash };
  const annotations: JsonObject = { "kubectl.kubernetes.io/restartedAt": "2026-11-21T10:00:00Z" };
  if (index % 3 === 0) Object.assign(annotations, { "prometheus.io/scrape": "true", "prometheus.io/port": String(app.port + 1) });
  if (index % 5 === 0) annotations["traffic.sidecar.istio.io/excludeOutboundPorts"] = "5432";
  if (kind === "opted-out") (index % 2 === 0 ? labels : annotations)["sidecar.istio.io/inject"] = "false";
  const spec: JsonObject = {
    volumes: [
      { name: "config", configMap: { name: `${app.name}-config`, defaultMode: 420 } },
      {
        name: "kube-api-access-7xk2p",
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
            { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
            { downwardAPI: { items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }] } },
          ],
        },
      },
    ],
    containers: app.containers.map((name, position) => container(name, `${app.name}/${name}:${app.version}`, app.port, position)),
    restartPolicy: "Always",
    terminationGracePeriodSeconds: 30,
    dnsPolicy: "ClusterFirst",
    serviceAccountName: app.name,
    serviceAccount: app.name,
    securityContext: { fsGroup: 2000 },
    schedulerName: "default-scheduler",
    tolerations: [
      { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
      { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
    ],
    priority: 0,
    enableServiceLinks: true,
    preemptionPolicy: "PreemptLowerPriority",
  };
  if (index % 4 === 1) spec.initContainers = [{ name: "migrate", image: `registry.example/${app.name}/migrate:${app.version}`, args: ["up"], resources: {}, terminationMessagePath: "/dev/termination-log", terminationMessagePolicy: "File", imagePullPolicy: "IfNotPresent" }];
  const pod: JsonObject = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: `${app.name}-${hash}-`,
      namespace: "shop",
      labels,
      annotations,
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: `${app.name}-${hash}`, uid: "5f0e2c1a-4b7d-4e38-9a52-0c6d1f7e8b90", controller: true, blockOwnerDeletion: true }],
      managedFields: managedFields([...app.containers]),
    },
    spec,
    status: {},
  };
  if (kind !== "reinvocation") return pod;
  // Reinvocation: the pod as our own earlier injection left it.
  const first = injectReview(reviewOf(pod, "first"), defaultInjectionSettings).review.response.patch ?? "";
  return jsonpatch.applyPatch(structuredClone(pod), JSON.parse(Buffer.from(first, "base64").toString("utf8")) as Operation[]).newDocument;
}

function reviewOf(pod: JsonObject, uid: string): JsonObject {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid,
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      requestKind: { group: "", version: "v1", kind: "Pod" },
      requestResource: { group: "", version: "v1", resource: "pods" },
      name: "",
      namespace: "shop",
      operation: "CREATE",
      userInfo: { username: "system:serviceaccount:kube-system:replicaset-controller", uid: "0b0d9a3e-3c1f-4f5e-8d7a-2e6b9c4f1a27", groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"] },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
    },
  };
}

const uidMark = "@@UID@@";

export function samples(count = 40): Sample[] {
  return Array.from({ length: count }, (_, index) => {
    const kind: PodKind = index % 10 === 4 ? "reinvocation" : index % 10 === 9 ? "opted-out" : "inject";
    const pod = deploymentPod(index, kind);
    const [head = "", tail = ""] = JSON.stringify(reviewOf(pod, uidMark)).split(uidMark);
    return { kind, pod, head, tail };
  });
}

// ---------------------------------------------------------------------------------------------
// cpu: in-process cost per review, without TLS and HTTP

function cpuTable(perRun: number): void {
  const all = samples();
  const runs = 7;
  const settingsRows: Array<[string, InjectionSettings]> = [
    ["passthrough", defaultInjectionSettings],
    ["ADS", { ...defaultInjectionSettings, discovery: { host: "198.19.127.1", port: 15010 } }],
  ];
  console.log(`| bootstrap | pods | request bytes | answer bytes | CPU µs per review (median of ${runs} × ${perRun}) |`);
  console.log("|---|---|---|---|---|");
  for (const [bootstrap, settings] of settingsRows) {
    for (const kind of ["inject", "reinvocation", "opted-out"] as const) {
      const bodies = all.filter((sample) => sample.kind === kind).map((sample) => `${sample.head}u-1${sample.tail}`);
      let answerBytes = 0;
      // CPU time, not wall-clock: on a shared machine the wall-clock mostly measures the others.
      const run = (): number => {
        const started = process.cpuUsage();
        for (let i = 0; i < perRun; i++) answerBytes = answerText(injectReview(JSON.parse(bodies[i % bodies.length] ?? ""), settings).review).length;
        const spent = process.cpuUsage(started);
        return (spent.user + spent.system) / perRun;
      };
      run(); // warm-up (JIT, the rendered bootstrap and rules)
      const times = Array.from({ length: runs }, run).sort((a, b) => a - b);
      const requestBytes = Math.round(bodies.reduce((sum, body) => sum + body.length, 0) / bodies.length);
      console.log(`| ${bootstrap} | ${kind} | ${requestBytes} | ${answerBytes} | ${(times[Math.floor(runs / 2)] ?? 0).toFixed(0)} |`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// load: the server in its own process(es), this process as the apiserver

type ToServer = { type: "start" } | { type: "stop" };
type FromServer = { type: "listening" } | { type: "stats"; cpuMicros: number; reviews: number; serverSeconds: number[] };

interface ServerConfig {
  port: number;
  certificate: ServingCertificate;
  workers: number;
  /** The server from dist/ (tsc, as the operator's image runs it) rather than src/ through tsx. */
  compiled: boolean;
  /** Not the webhook: an HTTPS server that reads the body and answers a canned answer of the same size (the TLS + HTTP floor). */
  floor: boolean;
}

/** One webhook server, wired as startWebhook wires it (observer per answer, debug line per review). */
async function serveOne(config: ServerConfig, report: (message: FromServer) => void): Promise<void> {
  const base = config.compiled ? pathToFileURL(join(repoRoot, "dist", "src", "/")).href : new URL("../src/", import.meta.url).href;
  const { WebhookServer } = (await import(new URL("webhook/server.js", base).href)) as typeof ServerModule;
  const { createLogger } = (await import(new URL("controllers/log.js", base).href)) as typeof LogModule;
  const logger = createLogger("info", "json");
  let seconds: number[] = [];
  let cpuAtStart = process.cpuUsage();
  if (config.floor) await serveFloor(config, (answered) => seconds.push(answered));
  else await WebhookServer.start({
    host: "127.0.0.1",
    port: config.port,
    certificate: config.certificate,
    injection: defaultInjectionSettings,
    onReview: (path, summary) => logger.debug(`${path}: ${summary}`),
    onAnswered: (_path, _code, answered) => seconds.push(answered),
  });
  process.on("message", (message: ToServer) => {
    if (message.type === "start") {
      seconds = [];
      cpuAtStart = process.cpuUsage();
    } else {
      const cpu = process.cpuUsage(cpuAtStart);
      report({ type: "stats", cpuMicros: cpu.user + cpu.system, reviews: seconds.length, serverSeconds: seconds });
    }
  });
  report({ type: "listening" });
}

/** The same TLS and HTTP handling as src/webhook/server.ts, none of the review: what Node itself costs per request. */
async function serveFloor(config: ServerConfig, onAnswered: (seconds: number) => void): Promise<void> {
  const sample = samples().find((one) => one.kind === "inject");
  const answer = JSON.stringify(injectReview(JSON.parse(`${sample?.head ?? ""}u-1${sample?.tail ?? ""}`), defaultInjectionSettings).review);
  const server = https.createServer({ minVersion: "TLSv1.2", cert: config.certificate.certificatePem, key: config.certificate.privateKeyPem }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const started = process.hrtime.bigint();
      Buffer.concat(chunks);
      response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(answer) });
      response.end(answer);
      onAnswered(Number(process.hrtime.bigint() - started) / 1e9);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(config.port, "127.0.0.1", resolve));
}

async function serve(): Promise<void> {
  const config = JSON.parse(process.env.WEBHOOK_BENCH_CONFIG ?? "{}") as ServerConfig;
  const send = (message: FromServer): void => void process.send?.(message);
  if (config.workers <= 1 || cluster.isWorker) return serveOne(config, send);
  // Primary of node:cluster: relays start/stop to every worker and adds their figures up.
  const workers = Array.from({ length: config.workers }, () => cluster.fork());
  let listening = 0;
  let stats: Array<Extract<FromServer, { type: "stats" }>> = [];
  for (const worker of workers) {
    worker.on("message", (message: FromServer) => {
      if (message.type === "listening" && ++listening === workers.length) send({ type: "listening" });
      if (message.type !== "stats") return;
      stats.push(message);
      if (stats.length < workers.length) return;
      send({ type: "stats", cpuMicros: stats.reduce((sum, one) => sum + one.cpuMicros, 0), reviews: stats.reduce((sum, one) => sum + one.reviews, 0), serverSeconds: stats.flatMap((one) => one.serverSeconds) });
      stats = [];
    });
  }
  process.on("message", (message: ToServer) => {
    for (const worker of workers) worker.send(message);
  });
}

interface Answer {
  ms: number;
  body: string;
}

function post(agent: https.Agent, port: number, ca: string, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = https.request({ host: "127.0.0.1", port, path: "/inject?timeout=10s", method: "POST", ca, agent, headers: { "content-type": "application/json", accept: "application/json" } }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        if (response.statusCode !== 200) reject(new Error(`HTTP ${response.statusCode}: ${Buffer.concat(chunks).toString()}`));
        else resolve({ ms: performance.now() - started, body: Buffer.concat(chunks).toString("utf8") });
      });
    });
    request.on("error", reject);
    request.end(body);
  });
}

/** Each kind of pod gets the answer it should: checked on every sample before measuring. */
function check(sample: Sample, uid: string, answer: string): void {
  const response = (JSON.parse(answer) as { response: { uid: string; allowed: boolean; patch?: string } }).response;
  if (response.uid !== uid || !response.allowed) throw new Error(`answer for ${uid}: ${answer.slice(0, 300)}`);
  const patched = response.patch === undefined ? sample.pod : jsonpatch.applyPatch(structuredClone(sample.pod), JSON.parse(Buffer.from(response.patch, "base64").toString("utf8")) as Operation[]).newDocument;
  const names = ((patched.spec as { containers: Array<{ name: string }> }).containers ?? []).map((one) => one.name);
  const expectProxy = sample.kind !== "opted-out";
  if (names.includes("istio-proxy") !== expectProxy) throw new Error(`${sample.kind} pod came out with containers ${names.join(",")}`);
  if (sample.kind !== "inject" && response.patch !== undefined) throw new Error(`${sample.kind} pod was patched`);
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

async function load(options: { inflight: number[]; reviews: number; workers: number; profile: boolean; floor: boolean; compiled: boolean; built: boolean }): Promise<void> {
  if (options.compiled && !options.built) execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: repoRoot, stdio: "inherit" });
  const authority = await createCa({ commonName: "webhook bench CA" });
  const serving = await issueCertificate(authority, { commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"], usage: "server" });
  const port = await freePort();
  const config: ServerConfig = { port, certificate: { certificatePem: serving.fullChainPem, privateKeyPem: serving.privateKeyPem }, workers: options.workers, floor: options.floor, compiled: options.compiled };
  const execArgv = ["--import", "tsx", ...(options.profile ? ["--cpu-prof", "--cpu-prof-dir=profiles"] : [])];
  const server: ChildProcess = fork(fileURLToPath(import.meta.url), ["serve"], { cwd: repoRoot, execArgv, env: { ...process.env, WEBHOOK_BENCH_CONFIG: JSON.stringify(config) }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const next = (): Promise<FromServer> => new Promise((resolve) => server.once("message", (message: FromServer) => resolve(message)));
  try {
    await next(); // listening
    const all = samples();
    const ca = authority.certificatePem;
    let counter = 0;
    const body = (sample: Sample): { uid: string; text: string } => {
      const uid = `u-${++counter}`;
      return { uid, text: `${sample.head}${uid}${sample.tail}` };
    };
    const clientCpu = process.cpuUsage();
    console.log(`| in flight | reviews | p50 ms | p95 ms | p99 ms | max ms | reviews/s | server CPU µs/review | server-side p50/p99 ms | client CPU µs/review | load avg (1 min) |`);
    console.log("|---|---|---|---|---|---|---|---|---|---|---|");
    for (const inflight of options.inflight) {
      const agent = new https.Agent({ keepAlive: true, maxSockets: inflight, maxFreeSockets: inflight });
      // Warm-up: opens the connections (TLS handshakes), JITs both sides, checks every kind of answer.
      await Promise.all(
        Array.from({ length: inflight }, async (_, lane) => {
          for (let i = lane; i < Math.max(all.length, inflight * 3); i += inflight) {
            const sample = all[i % all.length] ?? all[0];
            if (!sample) return;
            const { uid, text } = body(sample);
            const answer = await post(agent, port, ca, text);
            if (!options.floor) check(sample, uid, answer.body);
          }
        }),
      );
      server.send({ type: "start" } satisfies ToServer);
      const latencies: number[] = [];
      let issued = 0;
      const cpuBefore = process.cpuUsage(clientCpu);
      const started = performance.now();
      await Promise.all(
        Array.from({ length: inflight }, async () => {
          while (issued < options.reviews) {
            const sample = all[issued++ % all.length] ?? all[0];
            if (!sample) return;
            latencies.push((await post(agent, port, ca, body(sample).text)).ms);
          }
        }),
      );
      const elapsed = (performance.now() - started) / 1000;
      const cpuAfter = process.cpuUsage(clientCpu);
      server.send({ type: "stop" } satisfies ToServer);
      const stats = await next();
      agent.destroy();
      if (stats.type !== "stats") throw new Error("no stats from the server");
      latencies.sort((a, b) => a - b);
      const serverSide = stats.serverSeconds.map((seconds) => seconds * 1000).sort((a, b) => a - b);
      const clientMicros = (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) / latencies.length;
      console.log(
        `| ${inflight} | ${latencies.length} | ${quantile(latencies, 0.5).toFixed(2)} | ${quantile(latencies, 0.95).toFixed(2)} | ${quantile(latencies, 0.99).toFixed(2)} | ${quantile(latencies, 1).toFixed(2)} | ${(latencies.length / elapsed).toFixed(0)} | ${(stats.cpuMicros / stats.reviews).toFixed(0)} | ${quantile(serverSide, 0.5).toFixed(2)} / ${quantile(serverSide, 0.99).toFixed(2)} | ${clientMicros.toFixed(0)} | ${os.loadavg()[0]?.toFixed(2)} |`,
      );
    }
    console.log(`\nserver: ${options.floor ? "the TLS + HTTP floor (canned answer, no review)" : `src/webhook/server.ts (${options.compiled ? "compiled by tsc into dist/" : "through tsx"})`}, ${options.workers} process(es)${options.workers > 1 ? " (node:cluster)" : ""}; ${os.cpus().length} cores; node ${process.version}`);
  } finally {
    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGINT");
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------

const [mode = "all", ...rest] = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const at = rest.indexOf(`--${name}`);
  return at >= 0 ? (rest[at + 1] ?? fallback) : fallback;
};
if (mode === "serve" || cluster.isWorker) {
  process.on("SIGINT", () => process.exit(0)); // exit normally so --cpu-prof writes its profile
  await serve();
} else {
  const loadOptions = {
    inflight: flag("inflight", "1,200").split(",").map(Number),
    reviews: Number(flag("reviews", "4000")),
    workers: Number(flag("workers", "1")),
    profile: rest.includes("--profile"),
    floor: rest.includes("--floor"),
    compiled: !rest.includes("--tsx"),
    built: rest.includes("--built"),
  };
  if (mode === "cpu" || mode === "all") cpuTable(Number(rest[0] && mode === "cpu" ? rest[0] : 1000));
  if (mode === "all") console.log("");
  if (mode === "load" || mode === "all") await load(loadOptions);
}
