/**
 * compileSidecar's config carrying real traffic under the injected capture rules, before any
 * delivery exists: a "client pod" (network namespace) gets istio-init's nat table
 * (captureRules) and an Envoy running as uid/gid 1337 on the compiled config (inlined); its app
 * (curl, as root) calls the web Service's ClusterIP, which no kube-proxy serves here, so every
 * answer proves the capture → virtualOutbound → 0.0.0.0_80 → route config `80` → subset cluster
 * path. A VirtualService bound to the mesh (header match → v2, fault, 1 s timeout) and a
 * DestinationRule (subsets) change what the client sees. The v1 pod has a sidecar too (its own
 * compiled config): requests reach its app through virtualInbound (15006) and `inbound|8080||`.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, linkSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dump } from "js-yaml";
import { compileSidecar } from "../../../src/compile/sidecar/compile.js";
import { staticBootstrap } from "../../../src/envoy/bootstrap.js";
import { parseManifests } from "../../../src/model/manifests.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import { captureRules, defaultCapture } from "../../../src/webhook/inject/iptables.js";
import { waitFor } from "../../support/net.js";
import { benchTool } from "../../support/paths.js";
import { startPodNetwork, startPodUpstream } from "../../support/pods.js";
import type { Pod, PodNetwork, PodUpstream } from "../../support/pods.js";
import { stopManaged } from "../../support/processes.js";
import type { ManagedProcess } from "../../support/processes.js";
import type { SidecarProxy } from "../../../src/compile/sidecar/compile.js";

const clusterIp = "198.18.0.10";

describe("compiled sidecar config under the capture rules (L14 on network namespaces)", { skip: process.getuid?.() !== 0 ? "needs root (network namespaces, iptables)" : false }, () => {
  let network: PodNetwork;
  let client: Pod;
  let upstreams: PodUpstream[] = [];
  const envoys: ManagedProcess[] = [];
  let work: string;

  /** curl from the client pod's app (root: captured); returns status and body. */
  const curl = (path: string, headers: string[] = []): { status: number; body: string; upstream: string } => {
    const out = execFileSync("ip", ["netns", "exec", client.netns, "curl", "-s", "-m", "5", "-D", "-", ...headers.flatMap((h) => ["-H", h]), `http://${clusterIp}${path}`], { encoding: "utf8" });
    const [head = "", body = ""] = out.split("\r\n\r\n");
    const status = Number(/^HTTP\/\S+ (\d+)/.exec(head)?.[1] ?? 0);
    const upstream = /^x-upstream: (.*)$/im.exec(head)?.[1]?.trim() ?? "";
    return { status, body, upstream };
  };

  before(async () => {
    network = await startPodNetwork();
    client = await network.createPod("client");
    const v1 = await network.createPod("web-v1");
    const v2 = await network.createPod("web-v2");
    upstreams = [await startPodUpstream(v1, "httpbin", { port: 8080, name: "web-v1" }), await startPodUpstream(v2, "httpbin", { port: 8080, name: "web-v2" })];

    const manifests = [
      { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "mesh" }, spec: { clusterIP: clusterIp, ports: [{ name: "http", port: 80, targetPort: 8080 }] } },
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: "web-1", namespace: "mesh", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        ports: [{ name: "http", port: 8080 }],
        endpoints: [{ addresses: [v1.address] }, { addresses: [v2.address] }],
      },
      { apiVersion: "v1", kind: "Pod", metadata: { name: "web-v1", namespace: "mesh", labels: { app: "web", version: "v1" } }, spec: { containers: [{ name: "app", image: "x" }] }, status: { podIP: v1.address } },
      { apiVersion: "v1", kind: "Pod", metadata: { name: "web-v2", namespace: "mesh", labels: { app: "web", version: "v2" } }, spec: { containers: [{ name: "app", image: "x" }] }, status: { podIP: v2.address } },
      { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "web", namespace: "mesh" }, spec: { host: "web", subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }] } },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "web", namespace: "mesh" },
        spec: {
          hosts: ["web"],
          http: [
            { match: [{ headers: { "end-user": { exact: "jason" } } }], route: [{ destination: { host: "web", subset: "v2" } }] },
            { match: [{ headers: { "x-split": { exact: "yes" } } }], route: [{ destination: { host: "web", subset: "v1" }, weight: 90 }, { destination: { host: "web", subset: "v2" }, weight: 10 }] },
            { match: [{ uri: { prefix: "/teapot" } }], fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }, route: [{ destination: { host: "web", subset: "v1" } }] },
            { timeout: "1s", route: [{ destination: { host: "web", subset: "v1" } }] },
          ],
        },
      },
    ];
    const { inputs } = parseManifests([manifests.map((doc) => dump(doc)).join("---\n")]);
    const snapshot = buildSnapshot(inputs);

    // Envoy as uid/gid 1337 (the capture rules exempt it); /root is not readable by that uid, so
    // the binary is linked (or copied) next to the bootstraps.
    work = mkdtempSync(join(tmpdir(), "pilotfish-sidecar-traffic-"));
    chmodSync(work, 0o755);
    const binary = join(work, "envoy");
    try {
      linkSync(benchTool("envoy"), binary);
    } catch {
      copyFileSync(benchTool("envoy"), binary);
      chmodSync(binary, 0o755);
    }
    /** What istio-init and istio-proxy do to a pod: the nat table, then Envoy on the compiled config. */
    const injectSidecar = async (pod: Pod, proxy: SidecarProxy): Promise<void> => {
      const result = compileSidecar(snapshot, proxy, inputs.services);
      assert.deepEqual(result.diagnostics, []);
      const bootstrapPath = join(work, `${pod.name}.json`);
      writeFileSync(bootstrapPath, JSON.stringify(staticBootstrap(result.resources, { adminPort: 15000, nodeId: `sidecar~${pod.address}~${proxy.name}.mesh`, nodeCluster: `${proxy.name}.mesh` })));
      chmodSync(bootstrapPath, 0o644);
      execFileSync("ip", ["netns", "exec", pod.netns, "iptables-restore"], { input: captureRules(defaultCapture) });
      const envoy = pod.run("setpriv", ["--reuid", "1337", "--regid", "1337", "--clear-groups", binary, "-c", bootstrapPath, "--disable-hot-restart", "--log-level", "warning", "--base-id", String((process.pid + envoys.length) % 60000)], `${pod.name}:envoy`);
      envoys.push(envoy);
      await waitFor(() => {
        if (envoy.exitStatus) throw new Error(`envoy exited:\n${envoy.output.text()}`);
        return execFileSync("ip", ["netns", "exec", pod.netns, "curl", "-s", "-m", "2", "http://127.0.0.1:15000/ready"], { encoding: "utf8" }).trim() === "LIVE";
      }, { timeoutMs: 30_000, intervalMs: 200, what: `the sidecar Envoy in ${pod.name}` });
    };
    await injectSidecar(client, { name: "client", namespace: "mesh", labels: { app: "client" }, ports: [] });
    await injectSidecar(v1, { name: "web-v1", namespace: "mesh", labels: { app: "web", version: "v1" }, ports: [{ port: 8080, name: "http" }] });
    // The ClusterIP is routed on-link; nothing answers ARP for it: only the capture can.
    execFileSync("ip", ["-n", client.netns, "route", "add", "198.18.0.0/24", "dev", "eth0"]);
  });

  after(async () => {
    for (const envoy of envoys) await stopManaged(envoy);
    for (const upstream of upstreams) await upstream.stop();
    await network?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("routes the ClusterIP through 0.0.0.0_80 to subset v1 by default and to v2 for end-user: jason", () => {
    const plain = curl("/whoami");
    assert.equal(plain.status, 200);
    assert.equal(plain.upstream, "web-v1");
    const jason = curl("/whoami", ["end-user: jason"]);
    assert.equal(jason.upstream, "web-v2");
  });

  it("splits 90/10 across the DestinationRule's subsets", () => {
    const counts = { "web-v1": 0, "web-v2": 0 } as Record<string, number>;
    for (let i = 0; i < 100; i++) {
      const answer = curl("/whoami", ["x-split: yes"]);
      counts[answer.upstream] = (counts[answer.upstream] ?? 0) + 1;
    }
    console.log(`# 100 requests with the 90/10 split: ${JSON.stringify(counts)}`);
    assert.equal((counts["web-v1"] ?? 0) + (counts["web-v2"] ?? 0), 100);
    // Binomial(100, 0.1): outside 2..25 with probability below 1e-3.
    assert.ok((counts["web-v2"] ?? 0) >= 2 && (counts["web-v2"] ?? 0) <= 25, JSON.stringify(counts));
  });

  it("applies the VirtualService's fault (418 from Envoy, the upstream never sees it) and its 1 s timeout", () => {
    const before = upstreams[0]?.hits("/teapot") ?? 0;
    const teapot = curl("/teapot");
    assert.equal(teapot.status, 418);
    assert.equal(teapot.upstream, "", "answered by Envoy, not by an upstream");
    assert.equal(upstreams[0]?.hits("/teapot") ?? 0, before);
    const slow = curl("/delay/2");
    assert.equal(slow.status, 504);
    assert.match(slow.body, /upstream request timeout/);
    assert.equal(curl("/delay/0.2").status, 200);
  });

  it("passes a destination it knows nothing about through (PassthroughCluster), and leaves the proxy's own traffic alone", () => {
    const direct = execFileSync("ip", ["netns", "exec", client.netns, "curl", "-s", "-m", "5", "-D", "-", "-o", "/dev/null", `http://${upstreams[1]?.pod.address}:8080/whoami`], { encoding: "utf8" });
    assert.match(direct, /^x-upstream: web-v2/im);
    const stats = execFileSync("ip", ["netns", "exec", client.netns, "curl", "-s", "http://127.0.0.1:15000/stats?filter=^cluster\\.(PassthroughCluster|outbound).*upstream_rq_total$|^cluster\\.PassthroughCluster\\.upstream_cx_total$"], { encoding: "utf8" });
    assert.match(stats, /cluster\.PassthroughCluster\.upstream_cx_total: [1-9]/, stats);
    assert.match(stats, /cluster\.outbound\|80\|v2\|web\.mesh\.svc\.cluster\.local\.upstream_rq_total: [1-9]/, stats);
    assert.match(stats, /cluster\.outbound\|80\|v1\|web\.mesh\.svc\.cluster\.local\.upstream_rq_total: [1-9]/, stats);
  });

  it("enters the v1 pod through its sidecar's virtualInbound to inbound|8080||, and reaches its app", async () => {
    const v1 = upstreams[0]?.pod;
    assert.ok(v1);
    const inboundStats = (): number => {
      const text = execFileSync("ip", ["netns", "exec", v1.netns, "curl", "-s", "http://127.0.0.1:15000/stats?filter=^cluster\\.inbound\\|8080\\|\\|\\.upstream_rq_total$"], { encoding: "utf8" });
      return Number(/: (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = inboundStats();
    const hitsBefore = upstreams[0]?.hits("/anything/inbound") ?? 0;
    const answer = curl("/anything/inbound");
    assert.equal(answer.status, 200);
    assert.equal(answer.upstream, "web-v1");
    assert.equal(inboundStats(), before + 1, "one request through v1's inbound|8080|| cluster");
    await waitFor(() => (upstreams[0]?.hits("/anything/inbound") ?? 0) === hitsBefore + 1, { timeoutMs: 5000, what: "the app logging the request" });
  });
});
