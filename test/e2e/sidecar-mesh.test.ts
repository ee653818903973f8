/**
 * Lab L14 on the bench's real node: mesh traffic between two injected workloads through their
 * compiled sidecar configs, delivered over ADS (docs/injection.md, docs/adr/0011).
 *
 * The operator runs on the host under config/rbac's ServiceAccount: webhook on 127.0.0.1 (the
 * apiserver is on the host), ADS on the node IP (pods reach the host there; plaintext, hence
 * --xds-plaintext), and the injected bootstrap points at it. client → Service `server` (by
 * ClusterIP: the bench has no cluster DNS) leaves through the client's 15001 (its Envoy routes it
 * by the compiled route config `80` to `outbound|80||server.mesh.svc.cluster.local`) and enters
 * the server pod through its 15006 (`inbound|8080||`) to the app; a VirtualService bound to
 * `mesh` and a DestinationRule then change that traffic.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { dump, load } from "js-yaml";
import { startCluster, printClusterStateOnFailure } from "../support/cluster.js";
import { installCrds } from "../support/crds.js";
import type { Cluster } from "../support/cluster.js";
import { freePort, waitFor } from "../support/net.js";
import { repoRoot } from "../support/paths.js";
import { operatorKubeconfig } from "../integration/operator/support/identity.js";
import { startOperator } from "../integration/operator/support/operator-process.js";
import type { OperatorProcess } from "../integration/operator/support/operator-process.js";

const mesh = "mesh"; // istio-injection=enabled

interface Pod {
  metadata: { name: string; labels?: Record<string, string>; creationTimestamp?: string };
  status: { podIP?: string; phase?: string; conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }>; containerStatuses?: Array<{ name: string; ready: boolean }> };
}
interface WebhookConfiguration {
  webhooks: Array<{ clientConfig: { url?: string; service?: unknown } }>;
}
/** What the client's script prints per request. */
interface Answer {
  status: number;
  upstream: string | null;
}

describe("L14: mesh traffic through compiled sidecar config over ADS, on the bench's node", () => {
  let cluster: Cluster;
  let operator: OperatorProcess | undefined;
  let work: string;
  let operatorConfig: string;
  let webhookPort: number;
  let xdsPort: number;
  let serverIp: string;

  const kubectl = (args: readonly string[], namespace?: string, input?: string): Promise<string> =>
    cluster.kubectlOk(args, { ...(namespace ? { namespace } : {}), ...(input === undefined ? {} : { input }) });
  const podsOf = async (app: string): Promise<Pod[]> => (JSON.parse(await kubectl(["get", "pods", "-l", `app=${app}`, "-o", "json"], mesh)) as { items: Pod[] }).items;
  const ready = (pod: Pod): boolean => pod.status.conditions?.find((condition) => condition.type === "Ready")?.status === "True";
  const proxyLog = (pod: string): Promise<string> => kubectl(["logs", pod, "-c", "istio-proxy"], mesh);

  const startTheOperator = async (xds: boolean): Promise<OperatorProcess> =>
    startOperator({
      kubeconfig: operatorConfig,
      proxyConfigDir: "/etc/pilotfish/proxy",
      proxyAdminPort: await freePort(),
      proxyStatusPort: await freePort(),
      name: "pilotfish-operator-mesh",
      extraArgs: [
        "--webhook-addr", `127.0.0.1:${webhookPort}`,
        "--webhook-cert-hosts", "127.0.0.1",
        "--proxy-image", cluster.images.proxy ?? "",
        "--proxy-init-image", cluster.images["proxy-init"] ?? "",
        "--sidecar-discovery-address", `${cluster.nodeIp}:${xdsPort}`,
        "--access-log-file", "/dev/stdout",
        // Plaintext ADS, so the injected bootstrap dials it without TLS or a token (docs/injection.md);
        // without a token a sidecar is served as anonymous: its config, never a secret (--xds-auth permissive).
        "--xds-plaintext",
        ...(xds ? ["--xds-address", `${cluster.nodeIp}:${xdsPort}`, "--xds-auth", "permissive", "--xds-debug-addr", `127.0.0.1:${await freePort()}`] : []),
      ],
    });

  const webhookManifests = (): string =>
    ["mutating.yaml", "validating.yaml"]
      .map((file) => {
        const configuration = load(readFileSync(join(repoRoot, "config", "webhook", file), "utf8")) as WebhookConfiguration;
        for (const webhook of configuration.webhooks) {
          const path = (webhook.clientConfig.service as { path: string }).path;
          webhook.clientConfig = { url: `https://127.0.0.1:${webhookPort}${path}` };
        }
        return dump(configuration);
      })
      .join("---\n");

  const deployment = (name: string, labels: Record<string, string>): object => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{
            name: "app",
            image: cluster.images["test-upstream"],
            args: ["httpbin", "0.0.0.0", "8080", "$(POD_NAME)"],
            env: [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
            ports: [{ containerPort: 8080 }],
          }],
        },
      },
    },
  });

  /**
   * `count` requests from the client pod's app container to `path` on the server Service (one
   * kubectl exec); each answer's status and `x-upstream` (the answering pod's name).
   */
  const fromClient = async (path: string, count = 1, headers: Record<string, string> = {}): Promise<Answer[]> => {
    const [client] = await podsOf("client");
    assert.ok(client);
    const script = `(async()=>{const out=[];for(let i=0;i<${count};i++){const r=await fetch('http://${serverIp}${path}',{headers:${JSON.stringify(headers)}});await r.arrayBuffer();out.push({status:r.status,upstream:r.headers.get('x-upstream')})}process.stdout.write(JSON.stringify(out))})()`;
    return JSON.parse(await kubectl(["exec", client.metadata.name, "-c", "app", "--", "/usr/local/bin/node", "-e", script], mesh)) as Answer[];
  };
  const tally = (answers: Answer[]): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const answer of answers) {
      const version = answer.upstream?.startsWith("server-v2-") ? "v2" : answer.upstream?.startsWith("server-v1-") ? "v1" : `${answer.status} ${answer.upstream}`;
      counts[version] = (counts[version] ?? 0) + 1;
    }
    return counts;
  };

  before(async () => {
    cluster = await startCluster({ images: ["proxy", "proxy-init", "test-upstream"] });
    console.log(`# node ${cluster.nodeIp} up in ${cluster.startupMs} ms`);
    work = mkdtempSync(join(tmpdir(), "pilotfish-e2e-mesh-"));
    await installCrds(cluster);
    operatorConfig = await operatorKubeconfig(cluster, work);
    webhookPort = await freePort();
    xdsPort = await freePort();
    await kubectl(["apply", "-f", "-"], undefined, webhookManifests());
    await kubectl(["create", "namespace", mesh]);
    await kubectl(["label", "namespace", mesh, "istio-injection=enabled"]);
    await waitFor(async () => (await cluster.kubectl(["get", "serviceaccount", "default"], { namespace: mesh })).code === 0, { timeoutMs: 30_000, what: "the mesh namespace's default ServiceAccount" });
  });

  after(async () => {
    await operator?.stop();
    if (cluster) {
      await cluster.kubectl(["delete", "mutatingwebhookconfiguration", "pilotfish-sidecar-injector", "--ignore-not-found"]);
      await cluster.kubectl(["delete", "validatingwebhookconfiguration", "pilotfish-validator", "--ignore-not-found"]);
      await cluster.stop();
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  printClusterStateOnFailure(() => cluster, () => [mesh, "istio-system"]);
  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false || !operator) return;
    process.stderr.write(`----- operator (last 80 lines) -----\n${operator.process.output.text().split("\n").slice(-80).join("\n")}\n`);
  });

  it("pods injected while ADS is not served run but stay un-Ready; once the operator serves ADS they become Ready by themselves", async () => {
    // The webhook injects the ADS bootstrap (--sidecar-discovery-address), but this operator
    // does not serve ADS: the proxies cannot get config.
    operator = await startTheOperator(false);
    await waitFor(async () => (await cluster.kubectl(["run", "probe", `--image=${cluster.images["test-upstream"]}`, "--restart=Never", "--dry-run=server", "-o", "json"], { namespace: mesh })).stdout.includes("istio-proxy"), { timeoutMs: 30_000, intervalMs: 500, what: "the apiserver calling /inject" });
    const service = { apiVersion: "v1", kind: "Service", metadata: { name: "server" }, spec: { selector: { app: "server" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] } };
    await kubectl(["apply", "-f", "-"], mesh, [
      service,
      deployment("server-v1", { app: "server", version: "v1" }),
      deployment("server-v2", { app: "server", version: "v2" }),
      deployment("client", { app: "client" }),
    ].map((doc) => dump(doc)).join("---\n"));
    serverIp = (await kubectl(["get", "service", "server", "-o", "jsonpath={.spec.clusterIP}"], mesh)).trim();

    const running = await waitFor(async () => {
      const pods = [...(await podsOf("server")), ...(await podsOf("client"))];
      return pods.length === 3 && pods.every((pod) => pod.status.phase === "Running") ? pods : undefined;
    }, { timeoutMs: 120_000, intervalMs: 500, what: "three injected pods Running" });
    // Running for a while (several startup probes, 1 s apart), still not Ready: Envoy waits for its first config.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    for (const pod of [...(await podsOf("server")), ...(await podsOf("client"))]) {
      assert.equal(ready(pod), false, `${pod.metadata.name} is not Ready without config`);
      assert.equal(pod.status.containerStatuses?.find((status) => status.name === "istio-proxy")?.ready, false);
    }

    await operator.stop();
    operator = await startTheOperator(true);
    const adsUp = Date.now(); // the operator is Ready (informers synced)
    await waitFor(async () => {
      const pods = [...(await podsOf("server")), ...(await podsOf("client"))];
      return pods.length === 3 && pods.every(ready) ? pods : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250, what: "the injected pods Ready once ADS is served" });
    console.log(`# ${running.length} waiting pods Ready ${Date.now() - adsUp} ms after the operator serving ADS was Ready (same pods, no restart; includes the kubelet's next readiness probe, 15 s period)`);
    const logged = operator.logs().filter((line) => /^sidecar config for/.test(line.message)).map((line) => line.proxy).sort();
    assert.deepEqual(logged, [`${mesh}/client`, `${mesh}/server-v1`, `${mesh}/server-v2`]);
  });

  it("a new injected pod is Ready after create once its config is served (timed)", async () => {
    const started = Date.now();
    await kubectl(["apply", "-f", "-"], mesh, dump(deployment("late", { app: "late" })));
    await kubectl(["rollout", "status", "deployment/late", "--timeout=120s"], mesh);
    console.log(`# pod create → sidecar (and app) Ready: ${Date.now() - started} ms (kubectl apply of a Deployment → rollout status)`);
    await kubectl(["delete", "deployment", "late", "--wait=false"], mesh);
  });

  it("client → server's Service leaves through the client's 15001 and enters through the server's 15006; both Envoys log it; the app answers", async () => {
    const requestId = `l14-${Date.now()}`;
    const [answer] = await fromClient("/headers", 1, { "x-request-id": requestId });
    assert.equal(answer?.status, 200);
    assert.match(answer?.upstream ?? "", /^server-v[12]-/, "the server app answered");
    const [client] = await podsOf("client");
    assert.ok(client);
    const clientLine = await waitFor(async () => (await proxyLog(client.metadata.name)).split("\n").find((line) => line.includes(requestId)), { timeoutMs: 20_000, intervalMs: 500, what: "the client sidecar's access log line" });
    // Outbound: compiled route to the Service's cluster; the original destination was the ClusterIP (captured to 15001).
    assert.match(clientLine, / outbound\|80\|\|server\.mesh\.svc\.cluster\.local /);
    assert.ok(clientLine.includes(` ${serverIp}:80 `), `original destination ${serverIp}:80 in ${clientLine}`);
    const server = answer?.upstream ?? "";
    const serverLine = await waitFor(async () => (await proxyLog(server)).split("\n").find((line) => line.includes(requestId)), { timeoutMs: 20_000, intervalMs: 500, what: "the server sidecar's access log line" });
    // Inbound: captured to 15006, the inbound|8080|| chain, to the app from 127.0.0.6.
    assert.match(serverLine, / inbound\|8080\|\| 127\.0\.0\.6:\d+ /);
    const serverPod = (await podsOf("server")).find((pod) => pod.metadata.name === server);
    assert.ok(serverLine.includes(` ${serverPod?.status.podIP}:8080 `), `destination pod IP:8080 in ${serverLine}`);
  });

  it("a mesh VirtualService + DestinationRule: 90/10 across subsets (vs ~50/50 before), fault abort 418, 1 s timeout → 504", async () => {
    const before = tally(await fromClient("/status/200", 100));
    console.log(`# before the VirtualService: ${JSON.stringify(before)} of 100`);
    assert.ok((before.v1 ?? 0) >= 25 && (before.v2 ?? 0) >= 25, `round robin across both versions: ${JSON.stringify(before)}`);
    const [slow] = await fromClient("/delay/1.5");
    assert.equal(slow?.status, 200, "no timeout before the VirtualService");

    const rule = { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "server" }, spec: { host: "server", subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }] } };
    const route = {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "server" },
      spec: {
        hosts: ["server"],
        gateways: ["mesh"],
        http: [
          { match: [{ uri: { prefix: "/fault" } }], fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }, route: [{ destination: { host: "server", subset: "v1" } }] },
          { match: [{ uri: { prefix: "/delay" } }], timeout: "1s", route: [{ destination: { host: "server", subset: "v1" } }] },
          { route: [{ destination: { host: "server", subset: "v1" }, weight: 90 }, { destination: { host: "server", subset: "v2" }, weight: 10 }] },
        ],
      },
    };
    await kubectl(["apply", "-f", "-"], mesh, [rule, route].map((doc) => dump(doc)).join("---\n"));
    await waitFor(async () => (await fromClient("/fault"))[0]?.status === 418 || undefined, { timeoutMs: 30_000, intervalMs: 500, what: "the VirtualService reaching the client's sidecar" });

    const split = tally(await fromClient("/status/200", 200));
    console.log(`# with 90/10: ${JSON.stringify(split)} of 200`);
    assert.ok((split.v1 ?? 0) >= 160 && (split.v2 ?? 0) >= 4 && (split.v2 ?? 0) <= 40, `90/10 split: ${JSON.stringify(split)}`);

    const aborted = await fromClient("/fault/x", 3);
    assert.deepEqual(aborted.map((a) => [a.status, a.upstream]), [[418, null], [418, null], [418, null]], "aborted by the client's Envoy: no app saw it");

    const [timedOut] = await fromClient("/delay/3");
    assert.equal(timedOut?.status, 504);
    const [quick] = await fromClient("/delay/0.1");
    assert.equal(quick?.status, 200, "within the timeout");
    assert.match(quick?.upstream ?? "", /^server-v1-/, "the /delay rule routes to subset v1");
  });
});
