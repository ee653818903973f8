/**
 * `pilotfish operator` against a real kube-apiserver, as a child process under the RBAC of
 * config/rbac (a ServiceAccount token, not the harness's admin), and a real Envoy reading a
 * directory laid out the way kubelet projects the five published objects (..data swaps).
 * Upstreams are real processes in network-namespace "pods" behind EndpointSlices.
 *
 * One control plane for the file; the tests run in order and build on each other's state.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { createCertificateChainSet } from "../../../src/pki/index.js";
import { installCrds } from "../../support/crds.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { registerUpstream } from "../../support/cluster-fixtures.js";
import type { RegisteredUpstream } from "../../support/cluster-fixtures.js";
import { freePort, httpRequest, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { startPodNetwork, startPodUpstream } from "../../support/pods.js";
import type { PodNetwork, PodUpstream } from "../../support/pods.js";
import { startGatewayEnvoy } from "./support/gateway-envoy.js";
import type { GatewayEnvoy } from "./support/gateway-envoy.js";
import { operatorKubeconfig, operatorUser } from "./support/identity.js";
import { startOperator } from "./support/operator-process.js";
import type { OperatorProcess } from "./support/operator-process.js";
import { ProjectedVolume, payloadOf } from "./support/projected-volume.js";

const proxy = "istio-ingressgateway";
const groups = ["lds", "rds", "cds", "eds", "sds"] as const;
type Group = (typeof groups)[number];
const host = "webapp.shop.example";
const budget = 8;

interface PublishedObject {
  kind: "ConfigMap" | "Secret";
  metadata: {
    name: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
    managedFields?: { manager: string; operation: string }[];
  };
  type?: string;
  data?: Record<string, string>;
}

function phase(name: string, startedAt: number): void {
  process.stdout.write(`# phase ${name}: ${Math.round(performance.now() - startedAt)} ms\n`);
}

const gatewayManifest = (servers: unknown[]): string =>
  dump({
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "shop-gateway", namespace: "shop" },
    spec: { selector: { istio: "ingressgateway" }, servers },
  });

const httpServer = { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [host] };

const virtualService = (name: string, prefix: string, extraRoutes: unknown[] = []): string =>
  dump({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name, namespace: "shop" },
    spec: {
      hosts: [host],
      gateways: ["shop-gateway"],
      http: [{ name, match: [{ uri: { prefix } }], route: [{ destination: { host: "webapp", port: { number: 80 } } }] }, ...extraRoutes],
    },
  });

describe("pilotfish operator on a real apiserver", () => {
  let controlPlane: ControlPlane;
  let work: string;
  let kubeconfig: string;
  let operator: OperatorProcess | undefined;
  let envoy: GatewayEnvoy | undefined;
  let network: PodNetwork | undefined;
  const upstreams: PodUpstream[] = [];
  let webapp: RegisteredUpstream;
  let volume: ProjectedVolume;
  let httpPort: number;
  let adminPort: number;
  let statusPort: number;
  const configDir = (): string => join(work, "proxy");

  const objects = async (): Promise<Map<Group, PublishedObject>> => {
    const text = await controlPlane.kubectlOk(["get", "configmaps,secrets", "-n", "istio-system", "-l", `pilotfish.io/proxy=${proxy}`, "-o", "json", "--show-managed-fields"]);
    const items = (JSON.parse(text) as { items: PublishedObject[] }).items;
    const byGroup = new Map<Group, PublishedObject>();
    for (const item of items) {
      const group = item.metadata.name.slice(`pilotfish-${proxy}-`.length) as Group;
      if ((groups as readonly string[]).includes(group)) byGroup.set(group, item);
    }
    return byGroup;
  };
  const versions = async (): Promise<Record<Group, string>> => {
    const current = await objects();
    return Object.fromEntries(groups.map((group) => [group, current.get(group)?.metadata.resourceVersion ?? ""])) as Record<Group, string>;
  };
  const changedGroups = (before: Record<Group, string>, after: Record<Group, string>): Group[] => groups.filter((group) => before[group] !== after[group]);
  /** Waits until the published -<group> object satisfies `probe`. */
  const waitPublished = (what: string, probe: (published: Map<Group, PublishedObject>) => boolean, timeoutMs = 20_000): Promise<Map<Group, PublishedObject>> =>
    waitFor(async () => {
      const current = await objects();
      return current.size === groups.length && probe(current) ? current : undefined;
    }, { timeoutMs, intervalMs: 50, what });
  /** kubelet's sync: project the five objects into the directory (one ..data swap). */
  const syncVolume = async (): Promise<void> => volume.sync(payloadOf([...(await objects()).values()]));
  const get = (path: string, headers: Record<string, string> = {}) =>
    httpRequest({ url: `http://127.0.0.1:${httpPort}${path}`, headers: { host, ...headers }, timeoutMs: 5000 });
  const waitStatus = (path: string, status: number) =>
    waitFor(async () => ((await get(path)).status === status ? true : undefined), { timeoutMs: 20_000, intervalMs: 100, what: `GET ${path} → ${status}` });
  const publishLines = (): string[] => (operator?.logs() ?? []).map((line) => line.message).filter((message) => message.startsWith("published pilotfish-"));
  /** The objects one reconcile wrote, from its log line (written after all its writes). */
  const nextPublish = (after: number): Promise<string> =>
    waitFor(() => publishLines()[after], { timeoutMs: 20_000, what: "the operator's next publish log line" });
  const startOurOperator = (extraArgs: string[] = []): Promise<OperatorProcess> =>
    startOperator({
      kubeconfig,
      proxyConfigDir: configDir(),
      proxyAdminPort: adminPort,
      proxyStatusPort: statusPort,
      extraArgs: ["--max-file-subscriptions", String(budget), ...extraArgs],
    });

  before(async () => {
    const started = performance.now();
    work = mkdtempSync(join(tmpdir(), "pilotfish-operator-test-"));
    controlPlane = await startControlPlane();
    phase(`control plane (${controlPlane.startupMs} ms to /readyz)`, started);
    await installCrds(controlPlane);
    kubeconfig = await operatorKubeconfig(controlPlane, work);
    await controlPlane.kubectlOk(["create", "namespace", "shop"]);
    // The shipped gateway manifests, validated by the real apiserver; the Deployment applied as is.
    await controlPlane.kubectlOk(["apply", "--dry-run=server", "-f", join(repoRoot, "config", "gateway")]);
    await controlPlane.kubectlOk(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
    // The gateway Service maps 80 to a free port: Envoy runs on this host, not in a pod.
    httpPort = await freePort();
    adminPort = await freePort();
    statusPort = await freePort();
    const httpsPort = await freePort();
    await controlPlane.kubectlOk(["apply", "-f", "-"], {
      input: dump({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: proxy, namespace: "istio-system" },
        spec: {
          selector: { istio: "ingressgateway" },
          ports: [
            { name: "http2", port: 80, targetPort: httpPort },
            { name: "https", port: 443, targetPort: httpsPort },
          ],
        },
      }),
    });
    network = await startPodNetwork();
    const pod = await network.createPod("webapp-0");
    upstreams.push(await startPodUpstream(pod, "httpbin", { port: 8080, name: "webapp-0" }));
    webapp = await registerUpstream(controlPlane.kubeConfig(), {
      namespace: "shop",
      name: "webapp",
      ports: [{ name: "http", port: 80, targetPort: 8080 }],
      endpoints: [{ address: pod.address }],
    });
    volume = new ProjectedVolume(configDir());
    phase("fixtures", started);
  });

  afterEach((context) => {
    if ((context as { passed?: boolean }).passed !== false) return;
    process.stderr.write(`\n----- operator output (${context.name}) -----\n${operator?.process.output.text().split("\n").slice(-60).join("\n")}\n`);
    if (envoy) process.stderr.write(`----- Envoy log -----\n${envoy.log().split("\n").slice(-40).join("\n")}\n`);
  });

  after(async () => {
    await envoy?.stop();
    await operator?.stop();
    for (const upstream of upstreams) await upstream.stop();
    await network?.destroy();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("the operator's identity has exactly config/rbac's permissions", async () => {
    const can = async (verb: string, resource: string): Promise<string> =>
      (await controlPlane.kubectl(["auth", "can-i", verb, resource, `--as=${operatorUser}`, "-A"])).stdout.trim();
    for (const [verb, resource] of [["watch", "gateways.networking.istio.io"], ["list", "endpointslices.discovery.k8s.io"], ["patch", "configmaps"], ["create", "events.events.k8s.io"], ["watch", "secrets"], ["patch", "services"]]) {
      assert.equal(await can(verb as string, resource as string), "yes", `${verb} ${resource}`);
    }
    for (const [verb, resource] of [["delete", "configmaps"], ["update", "deployments.apps"], ["delete", "services"], ["patch", "gateways.networking.istio.io"], ["create", "gateways.networking.istio.io"], ["delete", "secrets"]]) {
      assert.equal(await can(verb as string, resource as string), "no", `${verb} ${resource}`);
    }
  });

  test("Gateway + VirtualService → five objects with the layout's keys, labels, owner and hash", async () => {
    const started = performance.now();
    operator = await startOurOperator();
    phase("operator start to /readyz", started);
    assert.match(operator.logs()[0]?.message ?? "", /^pilotfish operator watching https:\/\/127\.0\.0\.1:\d+ .*gateways.*virtualservices.*secrets in gateway and credential namespaces only/);

    const applied = performance.now();
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: `${gatewayManifest([httpServer])}---\n${virtualService("webapp", "/api")}` });
    // -lds is written last (referenced objects first), so wait for it too.
    const published = await waitPublished("the VirtualService's route in -rds and its cluster's EDS file counted in -lds", (current) =>
      Object.values(current.get("rds")?.data ?? {}).some((text) => text.includes("prefix: /api")) &&
      current.get("lds")?.metadata.annotations?.["pilotfish.io/file-subscriptions"] === "4",
    );
    phase("apply → route published", applied);

    const deployment = JSON.parse(await controlPlane.kubectlOk(["get", "deployment", proxy, "-n", "istio-system", "-o", "json"])) as { metadata: { uid: string } };
    for (const group of groups) {
      const object = published.get(group);
      assert.ok(object, `pilotfish-${proxy}-${group}`);
      assert.equal(object.kind, group === "sds" ? "Secret" : "ConfigMap");
      assert.equal(object.metadata.labels?.["app.kubernetes.io/managed-by"], "pilotfish");
      assert.equal(object.metadata.labels?.["pilotfish.io/proxy"], proxy);
      assert.match(object.metadata.annotations?.["pilotfish.io/config-hash"] ?? "", /^sha256:[0-9a-f]{32}$/);
      assert.equal(object.metadata.annotations?.["pilotfish.io/file-subscriptions"], group === "lds" ? "4" : undefined);
      assert.deepEqual(
        object.metadata.ownerReferences?.map((owner) => [owner.kind, owner.name, owner.uid, owner.controller]),
        [["Deployment", proxy, deployment.metadata.uid, true]],
      );
      assert.ok(object.metadata.managedFields?.some((field) => field.manager === "pilotfish" && field.operation === "Apply"), "server-side apply by pilotfish");
    }
    assert.equal(published.get("sds")?.type, "Opaque");
    assert.deepEqual(Object.keys(published.get("lds")?.data ?? {}).sort(), ["envoy.yaml", "lds.yaml"]);
    assert.deepEqual(Object.keys(published.get("cds")?.data ?? {}), ["cds.yaml"]);
    assert.deepEqual(Object.keys(published.get("rds")?.data ?? {}), [`rds.http.${httpPort}.yaml`]);
    assert.deepEqual(Object.keys(published.get("eds")?.data ?? {}), ["eds.outbound_7c80_7c_7cwebapp.shop.svc.cluster.local.yaml"]);
    assert.ok((published.get("lds")?.data?.["envoy.yaml"] ?? "").includes(`path: ${configDir()}/..data/lds.yaml`));
    const metrics = await operator.metrics();
    assert.match(metrics, /pilotfish_file_subscriptions\{proxy="istio-system\/istio-ingressgateway"\} 4/);
    assert.match(metrics, /pilotfish_publishes_total\{proxy="istio-system\/istio-ingressgateway",object="rds",result="written"\} \d+/);
    assert.match(metrics, /pilotfish_queue_depth \d+/);
  });

  test("a real Envoy on the projected directory serves the route; readiness on the status port", async () => {
    await syncVolume();
    const started = performance.now();
    envoy = await startGatewayEnvoy({ configDir: configDir(), adminPort, statusPort });
    phase("Envoy start to /healthz/ready 200", started);
    await waitStatus("/api/catalog", 200);
    const response = await get("/api/catalog");
    assert.equal(response.headers["x-upstream"], "webapp-0");
    assert.equal((await get("/other")).status, 404);
    assert.equal(await envoy.readiness(), 200);
  });

  test("a route change rewrites only -rds, and Envoy follows a ..data swap", async () => {
    const before = await versions();
    const published = publishLines().length;
    const applied = performance.now();
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: virtualService("webapp", "/shop") });
    await waitPublished("the new prefix in -rds", (current) => Object.values(current.get("rds")?.data ?? {}).some((text) => text.includes("prefix: /shop")));
    phase("apply → -rds updated", applied);
    assert.match(await nextPublish(published), /^published pilotfish-istio-ingressgateway-rds \d+ B; 4 file subscriptions$/);
    assert.deepEqual(changedGroups(before, await versions()), ["rds"]);
    await syncVolume();
    await waitStatus("/shop/items", 200);
    assert.equal((await get("/api/catalog")).status, 404);
    assert.equal(await envoy?.stat("listener_manager.lds.update_rejected"), 0);
    assert.equal(await envoy?.stat("http.pilotfish_status.downstream_rq_total") !== undefined, true);
  });

  test("an EndpointSlice change rewrites only -eds; traffic reaches the new pod", async () => {
    assert.ok(network);
    const pod = await network.createPod("webapp-1");
    const second = await startPodUpstream(pod, "httpbin", { port: 8080, name: "webapp-1" });
    upstreams.push(second);
    const before = await versions();
    const published = publishLines().length;
    const first = upstreams[0];
    assert.ok(first);
    await webapp.setEndpoints([{ address: first.pod.address }, { address: pod.address }]);
    await waitPublished("the second endpoint in -eds", (current) => Object.values(current.get("eds")?.data ?? {}).some((text) => text.includes(pod.address)));
    assert.match(await nextPublish(published), /^published pilotfish-istio-ingressgateway-eds \d+ B; 4 file subscriptions$/);
    assert.deepEqual(changedGroups(before, await versions()), ["eds"]);
    await syncVolume();
    await waitFor(async () => {
      await get("/shop/x");
      return second.hits("/shop/x") > 0 ? true : undefined;
    }, { timeoutMs: 20_000, what: "a request reaching webapp-1" });
  });

  test("an invalid VirtualService between two good changes is skipped; both good changes publish", async () => {
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: virtualService("good-one", "/one") });
    // Passes the CRD schema (the apiserver stores it) but not Istio's validation: a bad regex.
    await controlPlane.kubectlOk(["apply", "-f", "-"], {
      input: dump({
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "bad-regex", namespace: "shop" },
        spec: { hosts: [host], gateways: ["shop-gateway"], http: [{ match: [{ uri: { regex: "/bad(" } }], route: [{ destination: { host: "webapp", port: { number: 80 } } }] }] },
      }),
    });
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: virtualService("good-two", "/two") });
    await waitPublished("both good prefixes in -rds", (current) => {
      const text = Object.values(current.get("rds")?.data ?? {}).join("\n");
      return text.includes("prefix: /one") && text.includes("prefix: /two");
    });
    const rds = Object.values((await objects()).get("rds")?.data ?? {}).join("\n");
    assert.ok(!rds.includes("/bad("), "the invalid VirtualService is not compiled");
    const skipped = operator?.logs().filter((line) => line.resource === "VirtualService/shop/bad-regex") ?? [];
    assert.ok(skipped.length >= 1, "one log line names the invalid resource");
    assert.match(skipped[0]?.message ?? "", /^skipping invalid VirtualService shop\/bad-regex: spec\.http\[0\]\.match\[0\]\.uri\.regex: /);
    assert.equal(skipped[0]?.field, "spec.http[0].match[0].uri.regex");
    await syncVolume();
    await waitStatus("/two", 200);
    await waitStatus("/one", 200);
    assert.equal(operator?.process.exitStatus, undefined, "the operator keeps running");
  });

  test("TLS credentials go to the -sds Secret only; no ConfigMap contains a private key", async () => {
    const pki = await createCertificateChainSet({ name: "webapp", serverHosts: [host] });
    await controlPlane.kubectlOk(["apply", "-f", "-"], {
      input: dump({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "webapp-credential", namespace: "istio-system" },
        type: "kubernetes.io/tls",
        stringData: { "tls.crt": pki.server.fullChainPem, "tls.key": pki.server.privateKeyPem },
      }),
    });
    const before = await versions();
    await controlPlane.kubectlOk(["apply", "-f", "-"], {
      input: gatewayManifest([httpServer, { port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: [host], tls: { mode: "SIMPLE", credentialName: "webapp-credential" } }]),
    });
    const published = await waitPublished("the credential in -sds", (current) => Object.keys(current.get("sds")?.data ?? {}).length > 0);
    assert.deepEqual(Object.keys(published.get("sds")?.data ?? {}), ["sds.kubernetes_3a_2f_2fwebapp-credential.yaml"]);
    const sds = Buffer.from(Object.values(published.get("sds")?.data ?? {})[0] ?? "", "base64").toString("utf8");
    assert.ok(sds.includes("PRIVATE KEY"));
    for (const [group, object] of published) {
      if (object.kind === "ConfigMap") assert.ok(!JSON.stringify(object.data).includes("PRIVATE KEY"), `-${group} holds no private key`);
    }
    assert.ok(changedGroups(before, await versions()).includes("sds"));
    await syncVolume();
    await waitFor(async () => ((await envoy?.stat("listener_manager.total_listeners_active")) ?? 0) >= 3 ? true : undefined, {
      timeoutMs: 20_000,
      what: "the HTTPS listener active in Envoy",
    });
  });

  test("restarting the operator writes nothing when nothing changed", async () => {
    const running = operator;
    assert.ok(running);
    const status = await running.stop();
    assert.deepEqual(status, { code: 0, signal: null }, "SIGTERM → exit 0");
    const before = await versions();
    const started = performance.now();
    operator = await startOurOperator();
    phase("operator restart to /readyz", started);
    // /readyz means every proxy finished its first reconcile: the decision has been made.
    assert.deepEqual(await versions(), before);
    assert.equal(operator.logs().filter((line) => /^published pilotfish-/.test(line.message)).length, 0);
    assert.match(await operator.metrics(), /pilotfish_publishes_total\{proxy="istio-system\/istio-ingressgateway",object="lds",result="unchanged"\} 1/);
    assert.equal((await get("/two")).status, 200, "traffic kept flowing");
  });

  test("over the file-subscription budget: last good config kept, Event on the Deployment; back under it publishes", async () => {
    // Five more services routed: 2 + 2 RDS (http, https) + 1 SDS + 6 EDS = 11 > 8.
    const extraRoutes = [];
    for (let i = 0; i < 5; i++) {
      await controlPlane.kubectlOk(["apply", "-f", "-"], {
        input: dump({ apiVersion: "v1", kind: "Service", metadata: { name: `extra-${i}`, namespace: "shop" }, spec: { ports: [{ name: "http", port: 80 }] } }),
      });
      extraRoutes.push({ match: [{ uri: { prefix: `/extra-${i}` } }], route: [{ destination: { host: `extra-${i}`, port: { number: 80 } } }] });
    }
    const before = await versions();
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: virtualService("good-two", "/two", extraRoutes) });
    const event = await waitFor(async () => {
      const text = await controlPlane.kubectlOk(["get", "events", "-n", "istio-system", "--field-selector", `involvedObject.name=${proxy},reason=OverSubscriptionBudget`, "-o", "json"]);
      const items = (JSON.parse(text) as { items: { message: string; type: string; involvedObject: { kind: string } }[] }).items;
      return items[0];
    }, { timeoutMs: 20_000, what: "the OverSubscriptionBudget Event" });
    assert.equal(event.type, "Warning");
    assert.equal(event.involvedObject.kind, "Deployment");
    assert.match(event.message, /needs 11 file subscriptions .* budget of 8 .*ADS/);
    assert.deepEqual(await versions(), before, "last good config kept");
    const warning = operator?.logs().find((line) => line.message.startsWith("not publishing (OverSubscriptionBudget)"));
    assert.equal(warning?.proxy, "istio-system/istio-ingressgateway");
    assert.match(await operator!.metrics(), /pilotfish_publish_refusals_total\{proxy="istio-system\/istio-ingressgateway",reason="OverSubscriptionBudget"\} \d+/);
    assert.equal((await get("/two")).status, 200, "Envoy still serves the last good config");

    // Exactly at the budget (two extra services: 2 + 2 + 1 + 3 = 8) it publishes, and Envoy loads it.
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: virtualService("good-two", "/two", extraRoutes.slice(0, 2)) });
    const published = await waitPublished("a config at the budget", (current) => current.get("lds")?.metadata.annotations?.["pilotfish.io/file-subscriptions"] === String(budget));
    assert.equal(Object.keys(published.get("eds")?.data ?? {}).length, 3);
    await syncVolume();
    await waitFor(async () => ((await get("/extra-1/x")).status === 503 ? true : undefined), {
      timeoutMs: 20_000,
      what: "the route to a service without endpoints (503) served by Envoy",
    });
    assert.equal((await get("/two")).status, 200);
    assert.equal(await envoy?.stat("cluster_manager.cds.update_rejected"), 0);
  });
});
