/**
 * Endpoint churn over ADS (issue 11's Bench, last item; run on purpose, not a test):
 *
 *   npx tsx bench/ads-churn.ts            # 100 EndpointSlice updates/s for 30 s, 100 services
 *   npx tsx bench/ads-churn.ts 100 30 1000
 *
 * The bench's kube-apiserver + etcd; `pilotfish operator` as its own process (tsx on
 * src/cli/main.ts, log level info) serving ADS plaintext on loopback without authentication; a
 * real Envoy in ads mode on the shipped istio-ingressgateway Deployment, routing N
 * VirtualServices to N Services with one EndpointSlice each. Then `rate` EndpointSlice updates
 * per second (one endpoint address rotated, round robin over the slices, server-side apply) for
 * `seconds`: the operator's CPU (utime + stime from /proc) during the churn, the updates the
 * apiserver accepted, and from the server's /debug/syncz the pushes per type to Envoy during
 * the churn (only EDS expected), and Envoy still SYNCED at the end.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { dump } from "js-yaml";
import { KubeRest } from "../src/sources/kube/rest.js";
import type { SyncStatus } from "../src/xds/server.js";
import { adsBootstrap } from "../src/xds/bootstrap.js";
import { startControlPlane } from "../test/support/control-plane.js";
import { installCrds } from "../test/support/crds.js";
import { startEnvoy } from "../test/support/envoy.js";
import type { Envoy } from "../test/support/envoy.js";
import { freePort, waitFor } from "../test/support/net.js";
import { repoRoot } from "../test/support/paths.js";
import { operatorKubeconfig } from "../test/integration/operator/support/identity.js";
import { startOperator } from "../test/integration/operator/support/operator-process.js";
import type { OperatorProcess } from "../test/integration/operator/support/operator-process.js";

const namespace = "bench";
const proxyKey = "istio-system/istio-ingressgateway";
const types = ["CDS", "EDS", "LDS", "RDS", "SDS"] as const;

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15 of stat (11 and 12 after the command), in clock ticks (100/s).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function slice(service: number, generation: number): Record<string, unknown> {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `svc-${service}-a`, namespace, labels: { "kubernetes.io/service-name": `svc-${service}` } },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: [
      { addresses: [`198.18.${service & 255}.${1 + (generation % 250)}`], conditions: { ready: true } },
      { addresses: [`198.19.${service & 255}.1`], conditions: { ready: true } },
    ],
  };
}

async function main(): Promise<void> {
  const rate = Number(process.argv[2] ?? 100);
  const seconds = Number(process.argv[3] ?? 30);
  const size = Number(process.argv[4] ?? 100);
  const work = mkdtempSync(join(tmpdir(), "pilotfish-bench-ads-churn-"));
  const controlPlane = await startControlPlane();
  let operator: OperatorProcess | undefined;
  let envoy: Envoy | undefined;
  try {
    await installCrds(controlPlane);
    await controlPlane.kubectlOk(["create", "namespace", namespace]);
    await controlPlane.kubectl(["create", "namespace", "istio-system"]);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
    const httpPort = await freePort();
    const objects: unknown[] = [
      { apiVersion: "v1", kind: "Service", metadata: { name: "istio-ingressgateway", namespace: "istio-system" }, spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: httpPort }] } },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name: "bench-gateway", namespace },
        spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] },
      },
    ];
    for (let i = 0; i < size; i++) {
      objects.push({ apiVersion: "v1", kind: "Service", metadata: { name: `svc-${i}`, namespace }, spec: { clusterIP: "None", ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
      objects.push(slice(i, 0));
      objects.push({
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: `svc-${i}`, namespace },
        spec: { hosts: [`svc-${i}.bench.example.com`], gateways: ["bench-gateway"], http: [{ route: [{ destination: { host: `svc-${i}`, port: { number: 80 } } }] }] },
      });
    }
    for (let i = 0; i < objects.length; i += 500) await controlPlane.kubectlOk(["apply", "--server-side", "-f", "-"], { input: objects.slice(i, i + 500).map((object) => dump(object)).join("---\n") });

    const kubeconfig = await operatorKubeconfig(controlPlane, work);
    const xdsPort = await freePort();
    const debugPort = await freePort();
    operator = await startOperator({
      kubeconfig,
      proxyConfigDir: "/etc/pilotfish/proxy",
      proxyAdminPort: await freePort(),
      proxyStatusPort: await freePort(),
      extraArgs: ["--xds-address", `127.0.0.1:${xdsPort}`, "--xds-plaintext", "--xds-auth", "none", "--xds-debug-addr", `127.0.0.1:${debugPort}`, "--log-level", "info", "--leader-elect=false"],
    });
    const syncz = async (): Promise<SyncStatus> => (await (await fetch(`http://127.0.0.1:${debugPort}/debug/syncz`)).json()) as SyncStatus;
    envoy = await startEnvoy({
      bootstrap: adsBootstrap({ xdsHost: "127.0.0.1", xdsPort, apiType: "GRPC", adminPort: 0, namespace: "istio-system", workloadName: "istio-ingressgateway" }),
      name: "bench-ads-churn",
      readyTimeoutMs: 300_000,
    });
    const synced = async (): Promise<SyncStatus["proxies"][number] | undefined> => {
      const connection = (await syncz()).proxies.find((p) => p.proxy === proxyKey);
      return connection && ["CDS", "EDS", "LDS", "RDS"].every((t) => connection.types[t]?.status === "SYNCED") ? connection : undefined;
    };
    await waitFor(synced, { timeoutMs: 300_000, intervalMs: 100, what: "Envoy SYNCED" });
    await sleep(2000);
    const before = (await synced())!;
    const pid = operator.process.child.pid!;
    const cpuBefore = cpuMs(pid);
    const rest = new KubeRest(controlPlane.kubeConfig());
    let accepted = 0;
    let failed = 0;
    const started = performance.now();
    const total = rate * seconds;
    const inFlight = new Set<Promise<void>>();
    for (let n = 0; n < total; n++) {
      // Paced: update n is due at n / rate seconds; at most 20 requests in flight.
      const due = started + (n * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      while (inFlight.size >= 20) await Promise.race(inFlight);
      const service = n % size;
      const request = rest
        .apply(`/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices/svc-${service}-a`, slice(service, 1 + Math.floor(n / size)) as never, "bench-churn", true)
        .then(() => void accepted++, () => void failed++)
        .finally(() => inFlight.delete(request));
      inFlight.add(request);
    }
    await Promise.all(inFlight);
    const churnMs = performance.now() - started;
    await sleep(2000);
    const cpuAfter = cpuMs(pid);
    const after = await waitFor(synced, { timeoutMs: 60_000, intervalMs: 100, what: "Envoy SYNCED after the churn" });
    const pushes = Object.fromEntries(types.map((t) => [t, (after.types[t]?.pushes ?? 0) - (before.types[t]?.pushes ?? 0)]));
    console.log(`\nendpoint churn, ${size} services, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);
    console.log("| measure | value |\n|---|---|");
    console.log(`| EndpointSlice updates accepted by the apiserver (asked: ${rate}/s for ${seconds} s) | ${accepted} in ${(churnMs / 1000).toFixed(1)} s (${(accepted / (churnMs / 1000)).toFixed(0)}/s), ${failed} failed |`);
    console.log(`| operator CPU during the churn (+2 s), user + system | ${((cpuAfter - cpuBefore) / 1000).toFixed(1)} s (${((100 * (cpuAfter - cpuBefore)) / (churnMs + 2000)).toFixed(0)} % of a core) |`);
    console.log(`| pushes to Envoy during the churn, per type (syncz) | ${types.map((t) => `${t} ${pushes[t]}`).join(", ")} |`);
    console.log(`| Envoy at the end | SYNCED, EDS version ${after.types.EDS?.versionAcked ?? "?"} |`);
  } finally {
    await envoy?.stop();
    await operator?.stop();
    await controlPlane.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
