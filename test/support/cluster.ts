import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "node:test";
import { promisify } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import { buildImages } from "../../scripts/images/build.js";
import type { ImageName } from "../../scripts/images/specs.js";
import { kubeAccess } from "./control-plane.js";
import type { CommandResult, KubectlOptions } from "./control-plane.js";
import { kindCluster, kindProvider } from "./kind-cluster.js";
import { benchDir, repoRoot } from "./paths.js";
import { cleanupAtExit } from "./processes.js";

/**
 * A real single-node Kubernetes (scripts/node.sh): etcd, kube-apiserver, controller-manager,
 * scheduler, containerd + runc, kubelet, kube-proxy and a CNI bridge, with the project's images
 * imported. For tests that involve a pod: ConfigMap volumes, webhooks on pod CREATE, init
 * containers, NodePorts. Tests that need only the API use the lighter control-plane.ts.
 *
 * One node can run on the machine at a time (the kubelet and CNI use fixed host paths, and two
 * kube-proxies would fight over the same iptables chains): a test file that wants its own node
 * waits for the one before it to stop (a lock file naming the holder's PID). With
 * PILOTFISH_CLUSTER_DIR set to the folder of a running node (`make cluster` prints it), tests
 * use that node and leave it running; otherwise each test file starts its own and stops it.
 */
export interface Cluster {
  dir: string;
  kubeconfigPath: string;
  /** The node's InternalIP: NodePorts answer here, and the apiserver listens here. */
  nodeIp: string;
  /** Milliseconds to bring the node up (0 when an existing node was reused). */
  startupMs: number;
  /** Image references as pods name them, by image name. */
  images: Readonly<Partial<Record<ImageName, string>>>;
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<CommandResult>;
  /** Like kubectl, but throws with kubectl's stderr on a non-zero exit; returns stdout. */
  kubectlOk(args: readonly string[], options?: KubectlOptions): Promise<string>;
  kubeConfig(): KubeConfig;
  /** One component's log (kubelet, containerd, kube-apiserver...), or the tails of all. */
  logs(component?: string): string;
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** Images to import besides pause (the sandbox image, always imported). */
  images?: readonly ImageName[];
}

const nodeScript = join(repoRoot, "scripts", "node.sh");
const execFileAsync = promisify(execFile);

export async function startCluster(options: StartClusterOptions = {}): Promise<Cluster> {
  // make e2e-kind: a kind cluster made and torn down by scripts/e2e-kind.sh (test/support/kind-cluster.ts).
  if (process.env.PILOTFISH_CLUSTER_PROVIDER === kindProvider) return kindCluster(["pause", ...(options.images ?? [])]);
  const started = Date.now();
  const names: ImageName[] = ["pause", ...(options.images ?? []).filter((name) => name !== "pause")];
  const built = buildImages(names, benchDir());
  const images = Object.fromEntries(names.map((name, index) => [name, built[index]?.reference ?? ""])) as Partial<Record<ImageName, string>>;
  const imagesMs = Date.now() - started;

  const shared = process.env.PILOTFISH_CLUSTER_DIR;
  if (shared) {
    if (!existsSync(join(shared, "kubeconfig"))) throw new Error(`PILOTFISH_CLUSTER_DIR=${shared} holds no running node (no kubeconfig)`);
    const ctr = (args: readonly string[]): string =>
      execFileSync(join(benchDir(), "bin", "ctr"), ["--address", join(shared, "containerd", "containerd.sock"), "--namespace", "k8s.io", ...args], { encoding: "utf8", stdio: "pipe" });
    // An image the node already holds with the same digest is not imported again: every e2e file
    // of `make e2e` runs on one node started with all the images (seconds per file saved).
    const present = ctr(["images", "ls"]);
    for (const image of built) {
      const held = present.split("\n").some((line) => line.startsWith(`${image.reference} `) && line.includes(image.manifestDigest));
      if (!held) ctr(["images", "import", image.tarball]);
    }
    return clusterAt(shared, 0, images, async () => undefined);
  }

  const unlock = await lockTheNode();
  const dir = mkdtempSync(join(tmpdir(), "pilotfish-node-"));
  const down = (): void => {
    try {
      execFileSync("bash", [nodeScript, "down", dir], { stdio: ["ignore", "ignore", "pipe"] });
    } catch (error) {
      process.stderr.write(`[cluster] teardown of ${dir} failed: ${(error as Error).message}\n`);
    }
    unlock();
  };
  const forget = cleanupAtExit(down);
  try {
    const { stderr } = await execFileAsync("bash", [nodeScript, "up", dir, ...built.map((image) => image.tarball)], { maxBuffer: 16 * 1024 * 1024 });
    const startupMs = Date.now() - started;
    process.stderr.write(`[cluster] images ${imagesMs} ms (${built.map((image) => `${image.reference}${image.cached ? "" : " built"}`).join(", ")})\n${stderr}[cluster] up in ${startupMs} ms\n`);
    return clusterAt(dir, startupMs, images, async () => {
      forget();
      try {
        const { stderr: downLog } = await execFileAsync("bash", [nodeScript, "down", dir]);
        process.stderr.write(downLog);
      } finally {
        unlock();
      }
    });
  } catch (error) {
    const failure = error as Error & { stderr?: string };
    const logs = nodeLogs(dir);
    down();
    forget();
    throw new Error(`the node failed to start: ${failure.message}\n${failure.stderr ?? ""}\n${logs}`);
  }
}

const lockFile = join(tmpdir(), "pilotfish-node.lock");
const lockWaitMs = 30 * 60_000;

/** Waits until no other live process holds the node, then holds it; returns the release. */
async function lockTheNode(): Promise<() => void> {
  const started = Date.now();
  let reported = false;
  for (;;) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: "wx" });
      let held = true;
      const release = (): void => {
        if (!held) return;
        held = false;
        rmSync(lockFile, { force: true });
      };
      cleanupAtExit(release);
      return release;
    } catch {
      let holder: number;
      try {
        holder = Number(readFileSync(lockFile, "utf8").trim());
      } catch {
        continue; // released between our attempt and this read
      }
      if (!Number.isInteger(holder) || holder <= 0 || !isAlive(holder)) {
        rmSync(lockFile, { force: true }); // its holder died without releasing it
        continue;
      }
      if (Date.now() - started > lockWaitMs) throw new Error(`the node is held by process ${holder} (${lockFile}) for over ${lockWaitMs / 60_000} min`);
      if (!reported) process.stderr.write(`[cluster] waiting for process ${holder} to stop its node (${lockFile})\n`);
      reported = true;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function nodeLogs(dir: string, component?: string): string {
  try {
    return execFileSync("bash", [nodeScript, "logs", dir, ...(component ? [component] : [])], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  } catch {
    return "(no node logs)";
  }
}

function clusterAt(dir: string, startupMs: number, images: Partial<Record<ImageName, string>>, stop: () => Promise<void>): Cluster {
  return {
    dir,
    nodeIp: readFileSync(join(dir, "node-ip"), "utf8").trim(),
    startupMs,
    images,
    ...kubeAccess(join(dir, "kubeconfig")),
    logs: (component) => nodeLogs(dir, component),
    stop,
  };
}

/**
 * When a test fails, prints what explains it: the pods of the given namespaces (`kubectl get
 * -o wide`, `describe`, container logs) and the tails of the kubelet's and containerd's logs.
 */
export function printClusterStateOnFailure(cluster: () => Cluster | undefined, namespaces: () => readonly string[]): void {
  afterEach(async (context) => {
    const outcome = context as { passed?: boolean; name: string };
    const current = cluster();
    if (outcome.passed !== false || !current) return;
    let report = `\n----- cluster state (test "${outcome.name}" failed) -----\n`;
    for (const namespace of namespaces()) {
      for (const args of [["get", "pods,svc,endpointslices,cm,events", "-o", "wide"], ["describe", "pods"]]) {
        const result = await current.kubectl(args, { namespace });
        report += `$ kubectl -n ${namespace} ${args.join(" ")}\n${result.stdout}${result.stderr}`;
      }
      const pods = await current.kubectl(["get", "pods", "-o", "name"], { namespace });
      for (const pod of pods.stdout.split("\n").filter(Boolean)) {
        const result = await current.kubectl(["logs", pod, "--all-containers", "--tail=40"], { namespace });
        report += `$ kubectl -n ${namespace} logs ${pod}\n${result.stdout}${result.stderr}`;
      }
    }
    for (const component of ["kubelet", "containerd"]) report += `----- ${component} (last 60 lines) -----\n${tailLines(current.logs(component), 60)}\n`;
    process.stderr.write(`${report}\n----- end of cluster state -----\n`);
  });
}

function tailLines(text: string, lines: number): string {
  return text.split("\n").slice(-lines).join("\n");
}

/**
 * What a test file can leave on a shared node: namespaces, the cluster-scoped kinds the project's
 * manifests and tests create (CRDs, RBAC, webhook configurations...) and the main kinds in
 * `default`. `make e2e` (scripts/e2e.ts) lists them once after the node is up and, after each
 * file, deletes whatever is new, so the next file finds the node as a fresh one would be.
 */
const resettableClusterKinds = [
  "namespaces",
  "customresourcedefinitions.apiextensions.k8s.io",
  "clusterroles.rbac.authorization.k8s.io",
  "clusterrolebindings.rbac.authorization.k8s.io",
  "mutatingwebhookconfigurations.admissionregistration.k8s.io",
  "validatingwebhookconfigurations.admissionregistration.k8s.io",
  "priorityclasses.scheduling.k8s.io",
  "ingressclasses.networking.k8s.io",
  "persistentvolumes",
  "storageclasses.storage.k8s.io",
];
const resettableDefaultNamespaceKinds = ["deployments.apps", "daemonsets.apps", "statefulsets.apps", "jobs.batch", "pods", "services", "configmaps", "secrets", "serviceaccounts"];
/** Objects the node's own controllers create at any time (never a test's leftover). */
const systemObject = /\/(system:.*|kube-root-ca\.crt|default)$/;
const kindSlashName = '{range .items[*]}{.kind}/{.metadata.name} {.metadata.deletionTimestamp}{"\\n"}{end}';

/**
 * The resettable objects on the node now, as Kind/name (`default:` marks the namespace's), and
 * whether each is already being deleted (a namespace a file deleted with --wait=false).
 */
export async function resettableObjects(cluster: Pick<Cluster, "kubectlOk">): Promise<Map<string, { deleting: boolean }>> {
  const objects = new Map<string, { deleting: boolean }>();
  const add = (output: string, prefix = ""): void => {
    for (const line of output.split("\n")) {
      const [name, deletionTimestamp] = line.split(" ");
      if (name && !systemObject.test(name)) objects.set(prefix + name, { deleting: Boolean(deletionTimestamp) });
    }
  };
  add(await cluster.kubectlOk(["get", resettableClusterKinds.join(","), "-o", `jsonpath=${kindSlashName}`]));
  add(await cluster.kubectlOk(["get", resettableDefaultNamespaceKinds.join(","), "-o", `jsonpath=${kindSlashName}`], { namespace: "default" }), "default:");
  return objects;
}

/**
 * Deletes every resettable object that is not in `baseline` (resettableObjects on the fresh node)
 * and waits until it is gone (a namespace being terminated cannot be created again, and its
 * Services still hold their NodePorts). Returns the objects that were left, not already being
 * deleted: what the file should have deleted itself.
 */
export async function resetCluster(cluster: Pick<Cluster, "kubectlOk">, baseline: ReadonlyMap<string, unknown>, timeoutSeconds = 180): Promise<string[]> {
  const current = [...(await resettableObjects(cluster)).entries()].filter(([name]) => !baseline.has(name));
  const names = current.map(([name]) => name);
  const ofKind = (pattern: RegExp): string[] => names.filter((name) => pattern.test(name));
  const remove = async (targets: string[], namespace?: string): Promise<void> => {
    if (targets.length === 0) return;
    await cluster.kubectlOk(["delete", ...targets, "--ignore-not-found", `--timeout=${timeoutSeconds}s`], namespace ? { namespace } : {});
  };
  // Webhook configurations first: one pointing at an operator that has exited would refuse the
  // deletions below (failurePolicy Fail).
  const webhooks = /^(Mutating|Validating)WebhookConfiguration\//;
  await remove(ofKind(webhooks));
  await remove(ofKind(/^default:/).map((name) => name.slice("default:".length)), "default");
  await remove(ofKind(/^Namespace\//));
  await remove(names.filter((name) => !name.startsWith("default:") && !name.startsWith("Namespace/") && !webhooks.test(name)));
  return current.filter(([, state]) => !state.deleting).map(([name]) => name).sort();
}
