/**
 * Pod create → sidecar ready on the bench's real node (issue 12's bench line; run on purpose, not
 * a test). Needs the node (`make -o node_modules testenv`); it waits for the node lock like the
 * e2e tests (one node per machine, shared with whoever else is using it).
 *
 *   npx tsx bench/injected-pod-ready.ts [pods, default 10]
 *
 * The operator runs on the host with its webhook (as test/e2e/sidecar-injection.test.ts runs it);
 * config/webhook's configurations point at it. In a namespace labelled istio-injection=enabled,
 * bare pods (one app container without a readiness probe, so the pod's readiness is the sidecar's)
 * are created through the API: first one at a time, then all at once. A watch timestamps, for
 * each pod, the create call, istio-init's termination, istio-proxy's `started` and `ready` and the
 * pod's Ready condition; prints p50/max per step.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, Watch } from "@kubernetes/client-node";
import type { V1Pod } from "@kubernetes/client-node";
import { dump, load } from "js-yaml";
import { startCluster } from "../test/support/cluster.js";
import { installCrds } from "../test/support/crds.js";
import { freePort, waitFor } from "../test/support/net.js";
import { repoRoot } from "../test/support/paths.js";
import { operatorKubeconfig } from "../test/integration/operator/support/identity.js";
import { startOperator } from "../test/integration/operator/support/operator-process.js";
import type { OperatorProcess } from "../test/integration/operator/support/operator-process.js";

const count = Number(process.argv[2] ?? 10);
const namespace = "ready-bench";

interface Times {
  created?: number;
  answered?: number;
  initDone?: number;
  proxyStarted?: number;
  proxyReady?: number;
  podReady?: number;
}

interface WebhookConfiguration {
  webhooks: Array<{ clientConfig: { url?: string; service?: unknown } }>;
}

const cluster = await startCluster({ images: ["proxy", "proxy-init", "test-upstream"] });
let operator: OperatorProcess | undefined;
const work = mkdtempSync(join(tmpdir(), "pilotfish-ready-bench-"));
try {
  const kubectl = (args: readonly string[], input?: string): Promise<string> => cluster.kubectlOk(args, input === undefined ? {} : { input });
  await installCrds(cluster);
  const operatorConfig = await operatorKubeconfig(cluster, work);
  const webhookPort = await freePort();
  const manifests = ["mutating.yaml", "validating.yaml"].map((file) => {
    const configuration = load(readFileSync(join(repoRoot, "config", "webhook", file), "utf8")) as WebhookConfiguration;
    for (const webhook of configuration.webhooks) webhook.clientConfig = { url: `https://127.0.0.1:${webhookPort}${(webhook.clientConfig.service as { path: string }).path}` };
    return dump(configuration);
  });
  await kubectl(["apply", "-f", "-"], manifests.join("---\n"));
  await kubectl(["create", "namespace", namespace]);
  await kubectl(["label", "namespace", namespace, "istio-injection=enabled"]);
  await waitFor(async () => (await cluster.kubectl(["get", "serviceaccount", "default"], { namespace })).code === 0, { timeoutMs: 30_000, what: "the default ServiceAccount" });
  operator = await startOperator({
    kubeconfig: operatorConfig,
    proxyConfigDir: "/etc/pilotfish/proxy",
    proxyAdminPort: await freePort(),
    proxyStatusPort: await freePort(),
    name: "pilotfish-operator-ready-bench",
    extraArgs: ["--webhook-addr", `127.0.0.1:${webhookPort}`, "--webhook-cert-hosts", "127.0.0.1", "--proxy-image", cluster.images.proxy ?? "", "--proxy-init-image", cluster.images["proxy-init"] ?? ""],
  });
  const dryRunInjected = async (): Promise<boolean> =>
    (JSON.parse(await cluster.kubectlOk(["run", "probe", `--image=${cluster.images["test-upstream"]}`, "--restart=Never", "--dry-run=server", "-o", "json"], { namespace })) as V1Pod).spec?.containers.some((c) => c.name === "istio-proxy") ?? false;
  await waitFor(dryRunInjected, { timeoutMs: 60_000, intervalMs: 500, what: "the webhook injecting (caBundle patched, informer caught up)" });

  const api = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const times = new Map<string, Times>();
  const seen = (pod: V1Pod): void => {
    const entry = times.get(pod.metadata?.name ?? "");
    if (!entry) return;
    const now = performance.now();
    const init = pod.status?.initContainerStatuses?.find((status) => status.name === "istio-init");
    const proxy = pod.status?.containerStatuses?.find((status) => status.name === "istio-proxy");
    if (entry.initDone === undefined && init?.state?.terminated) entry.initDone = now;
    if (entry.proxyStarted === undefined && proxy?.started) entry.proxyStarted = now;
    if (entry.proxyReady === undefined && proxy?.ready) entry.proxyReady = now;
    if (entry.podReady === undefined && pod.status?.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True")) entry.podReady = now;
  };
  const watch = await new Watch(cluster.kubeConfig()).watch(`/api/v1/namespaces/${namespace}/pods`, {}, (_type: string, pod: V1Pod) => seen(pod), () => undefined);

  const pod = (name: string): V1Pod => ({
    metadata: { name, labels: { app: "ready-bench" } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{ name: "app", image: cluster.images["test-upstream"], args: ["httpbin", "0.0.0.0", "8080", name], ports: [{ containerPort: 8080 }] }],
    },
  });
  const create = async (name: string): Promise<void> => {
    const entry: Times = { created: performance.now() };
    times.set(name, entry);
    await api.createNamespacedPod({ namespace, body: pod(name) });
    entry.answered = performance.now();
  };
  const allReady = (names: string[]) => () => names.every((name) => times.get(name)?.podReady !== undefined);

  const rows: Array<[string, string[]]> = [];
  const sequential = Array.from({ length: count }, (_, i) => `one-${i}`);
  for (const name of sequential) {
    await create(name);
    await waitFor(allReady([name]), { timeoutMs: 180_000, intervalMs: 50, what: `${name} Ready` });
  }
  rows.push([`${count} pods, one at a time`, sequential]);
  await cluster.kubectl(["delete", "pods", "--all", "--wait=true"], { namespace });
  const burst = Array.from({ length: count }, (_, i) => `burst-${i}`);
  await Promise.all(burst.map(create));
  await waitFor(allReady(burst), { timeoutMs: 300_000, intervalMs: 50, what: "every burst pod Ready" });
  rows.push([`${count} pods created at once`, burst]);
  watch.abort();

  const stat = (values: number[]): string => {
    const sorted = [...values].sort((a, b) => a - b);
    return `${((sorted[Math.floor(sorted.length / 2)] ?? 0) / 1000).toFixed(2)} / ${((sorted.at(-1) ?? 0) / 1000).toFixed(2)}`;
  };
  console.log("| pods | create call (admission included) | → istio-init done | → istio-proxy started | → istio-proxy ready | → pod Ready |");
  console.log("|---|---|---|---|---|---|");
  for (const [label, names] of rows) {
    const of = (step: keyof Times): number[] => names.map((name) => (times.get(name)?.[step] ?? Number.NaN) - (times.get(name)?.created ?? 0));
    console.log(`| ${label} | ${stat(of("answered"))} | ${stat(of("initDone"))} | ${stat(of("proxyStarted"))} | ${stat(of("proxyReady"))} | ${stat(of("podReady"))} |`);
  }
  console.log("\nseconds from the create call, p50 / max; the proxy runs the passthrough bootstrap (no ADS), images already on the node");
} finally {
  await operator?.stop();
  await cluster.kubectl(["delete", "namespace", namespace, "--wait=false"]).catch(() => undefined);
  await cluster.kubectl(["delete", "mutatingwebhookconfiguration", "pilotfish-sidecar-injector", "--ignore-not-found"]).catch(() => undefined);
  await cluster.kubectl(["delete", "validatingwebhookconfiguration", "pilotfish-validator", "--ignore-not-found"]).catch(() => undefined);
  await cluster.stop();
  rmSync(work, { recursive: true, force: true });
}
