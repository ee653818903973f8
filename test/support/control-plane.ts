import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { KubeConfig } from "@kubernetes/client-node";
import { freePort } from "./net.js";
import { benchTool } from "./paths.js";
import { spawnManaged, stopManaged } from "./processes.js";
import type { ManagedProcess } from "./processes.js";

/**
 * A real Kubernetes control plane on loopback: etcd + kube-apiserver, nothing else (no
 * scheduler, no controller-manager, no kubelet). Tests play the missing controllers
 * themselves, e.g. by writing EndpointSlices for local upstreams (see cluster-fixtures.ts).
 */
export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  server: string;
  kubeconfigPath: string;
  /** Milliseconds from spawning etcd to the apiserver answering /readyz. */
  startupMs: number;
  /** Runs the bench's kubectl against this control plane. Never throws on a non-zero exit. */
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<CommandResult>;
  /** Like kubectl, but throws with kubectl's stderr on a non-zero exit; returns stdout. */
  kubectlOk(args: readonly string[], options?: KubectlOptions): Promise<string>;
  /** A fresh client configuration for @kubernetes/client-node. */
  kubeConfig(): KubeConfig;
  /** Output of etcd and kube-apiserver so far (for failure reports). */
  logs(): string;
  /** Stops kube-apiserver (SIGTERM); etcd keeps running with everything stored. */
  stopApiserver(): Promise<void>;
  /** Starts kube-apiserver again on the same port, certificates, tokens and etcd; resolves at /readyz 200. */
  startApiserver(): Promise<void>;
  /**
   * Compacts etcd's history up to its current revision (physically): every resourceVersion
   * older than that can no longer be watched from (410 Gone once a watch has to resume from it).
   * Returns the revision compacted at.
   */
  compactEtcd(): Promise<number>;
  stop(): Promise<void>;
}

export interface KubectlOptions {
  input?: string;
  namespace?: string;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ControlPlaneOptions {
  /** Extra kube-apiserver flags, e.g. `--admission-control-config-file=...`. */
  apiserverArgs?: readonly string[];
  /** How long to wait for /readyz (default 90 s: a cold 2-core machine is slow). */
  readyTimeoutMs?: number;
}

// Addresses from the benchmarking block (RFC 2544), never private ranges: see DESIGN.md.
const SERVICE_CLUSTER_IP_RANGE = "198.18.0.0/24";
const ADMIN_USER = "pilotfish-test-admin";

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), "pilotfish-cp-"));
  const processes: ManagedProcess[] = [];
  const stopAll = async (): Promise<void> => {
    for (const managed of processes.reverse()) await stopManaged(managed);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const etcdUrl = await startEtcd(dir, processes);
    const { server, token, caPath, spawnApiserver } = await startApiserver(dir, etcdUrl, processes, options);
    await waitReady(server, token, caPath, processes, options.readyTimeoutMs ?? 90_000);
    const apiserver = (): ManagedProcess | undefined => processes.find((managed) => managed.name === "kube-apiserver" && managed.exitStatus === undefined);
    const kubeconfigPath = join(dir, "kubeconfig");
    await writeFile(kubeconfigPath, kubeconfigYaml(server, token, await readFile(caPath, "utf8")));
    const startupMs = Date.now() - started;
    return {
      server,
      startupMs,
      ...kubeAccess(kubeconfigPath),
      logs: () => processes.map((managed) => `----- ${managed.name} -----\n${managed.output.text()}`).join(""),
      stopApiserver: async () => {
        const running = apiserver();
        if (running) await stopManaged(running, 10_000);
      },
      startApiserver: async () => {
        if (apiserver()) throw new Error("kube-apiserver is already running");
        spawnApiserver();
        await waitReady(server, token, caPath, processes.filter((managed) => managed.name !== "kube-apiserver" || managed.exitStatus === undefined), options.readyTimeoutMs ?? 90_000);
      },
      compactEtcd: () => compactEtcd(etcdUrl),
      stop: stopAll,
    };
  } catch (error) {
    const logs = processes.map((managed) => `----- ${managed.name} -----\n${managed.output.text()}`).join("");
    await stopAll();
    throw new Error(`control plane failed to start: ${(error as Error).message}\n${tail(logs, 80)}`);
  }
}

async function startEtcd(dir: string, processes: ManagedProcess[]): Promise<string> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  processes.push(
    spawnManaged(
      benchTool("etcd"),
      [
        "--name=bench",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=bench=${peerUrl}`,
        // A throwaway test store: durability costs seconds per test on a slow disk.
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
      { name: "etcd" },
    ),
  );
  return clientUrl;
}

async function startApiserver(
  dir: string,
  etcdUrl: string,
  processes: ManagedProcess[],
  options: ControlPlaneOptions,
): Promise<{ server: string; token: string; caPath: string; spawnApiserver: () => void }> {
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  const tokenFile = join(dir, "tokens.csv");
  await writeFile(tokenFile, `${token},${ADMIN_USER},${ADMIN_USER},system:masters\n`);
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const saKey = join(dir, "sa.key");
  const saPub = join(dir, "sa.pub");
  await writeFile(saKey, privateKey.export({ type: "pkcs8", format: "pem" }));
  await writeFile(saPub, publicKey.export({ type: "spki", format: "pem" }));
  const certDir = join(dir, "pki");
  // A function, so that stopApiserver/startApiserver bring the same apiserver back.
  const spawnApiserver = (): void => {
    processes.push(
      spawnManaged(
        benchTool("kube-apiserver"),
        [
          `--etcd-servers=${etcdUrl}`,
          "--bind-address=127.0.0.1",
          "--advertise-address=127.0.0.1",
          `--secure-port=${port}`,
          // With no --tls-cert-file the apiserver writes a self-signed serving pair here;
          // the kubeconfig trusts exactly that certificate.
          `--cert-dir=${certDir}`,
          `--token-auth-file=${tokenFile}`,
          "--authorization-mode=RBAC",
          `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
          `--service-account-key-file=${saPub}`,
          `--service-account-signing-key-file=${saKey}`,
          `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
          // No controller-manager creates the 'default' ServiceAccount, so its admission plugin
          // would refuse every pod.
          "--disable-admission-plugins=ServiceAccount",
          "--profiling=false",
          "--v=1",
          ...(options.apiserverArgs ?? []),
        ],
        { name: "kube-apiserver" },
      ),
    );
  };
  spawnApiserver();
  return { server: `https://127.0.0.1:${port}`, token, caPath: join(certDir, "apiserver.crt"), spawnApiserver };
}

/** etcd's JSON gateway: the current revision (a count-only range read), then a physical compaction at it. */
async function compactEtcd(etcdUrl: string): Promise<number> {
  const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${etcdUrl}${path}`, { method: "POST", body: JSON.stringify(body) });
    const text = await response.text();
    if (!response.ok) throw new Error(`etcd ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const range = await post("/v3/kv/range", { key: Buffer.from("/").toString("base64"), count_only: true });
  const revision = Number((range.header as { revision?: string } | undefined)?.revision);
  if (!Number.isInteger(revision) || revision <= 0) throw new Error(`etcd returned no revision: ${JSON.stringify(range)}`);
  await post("/v3/kv/compaction", { revision: String(revision), physical: true });
  return revision;
}

async function waitReady(
  server: string,
  token: string,
  caPath: string,
  processes: readonly ManagedProcess[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    const dead = processes.find((managed) => managed.exitStatus !== undefined);
    if (dead) throw new Error(`${dead.name} exited early (${JSON.stringify(dead.exitStatus)})`);
    try {
      const ca = await readFile(caPath, "utf8");
      const answer = await getWithCa(`${server}/readyz`, token, ca);
      if (answer.status === 200) return;
      last = `/readyz answered ${answer.status}: ${answer.body.slice(0, 500)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`kube-apiserver not ready after ${timeoutMs} ms: ${last}`);
}

function getWithCa(url: string, token: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, ca, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`timeout requesting ${url}`)));
    req.on("error", reject);
    req.end();
  });
}

function kubeconfigYaml(server: string, token: string, caPem: string): string {
  const ca = Buffer.from(caPem).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: bench",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    "users:",
    `- name: ${ADMIN_USER}`,
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: bench",
    "  context:",
    "    cluster: bench",
    `    user: ${ADMIN_USER}`,
    "current-context: bench",
    "",
  ].join("\n");
}

/** kubectl and client-node for one kubeconfig: what every harness that runs an apiserver offers. */
export function kubeAccess(kubeconfigPath: string): Pick<ControlPlane, "kubeconfigPath" | "kubectl" | "kubectlOk" | "kubeConfig"> {
  return {
    kubeconfigPath,
    kubectl: (args, options) => runKubectl(kubeconfigPath, args, options),
    kubectlOk: async (args, options) => {
      const result = await runKubectl(kubeconfigPath, args, options);
      if (result.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
      return result.stdout;
    },
    kubeConfig: () => {
      const config = new KubeConfig();
      config.loadFromFile(kubeconfigPath);
      return config;
    },
  };
}

export function runKubectl(kubeconfigPath: string, args: readonly string[], options: KubectlOptions = {}): Promise<CommandResult> {
  const fullArgs = [`--kubeconfig=${kubeconfigPath}`, ...(options.namespace ? [`--namespace=${options.namespace}`] : []), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(benchTool("kubectl"), fullArgs, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

function tail(text: string, lines: number): string {
  return text.split("\n").slice(-lines).join("\n");
}
