/**
 * The chart on the bench's real node, the operator running as a pod: `helm lint`, a server-side
 * dry run of `helm template`, `helm install` (every object created, the operator pods Ready and
 * a leader elected), lab L2 served through the gateway's NodePort, the webhook reached through
 * the operator's Service, `helm upgrade` rolling out changed values, the ServiceAccount refused
 * what is outside its job, the leader pod killed and the next change served, `helm uninstall`
 * keeping the CRDs and the users' resources, and `kubectl apply -f config/` bringing the same
 * system back on the emptied namespace. The steps build on one another: one node for the file.
 * Nothing runs on the host but helm, kubectl and the test's HTTP client.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { load, loadAll } from "js-yaml";
import { chartDir, kubeVersion } from "../../scripts/generate-config/render.js";
import { printClusterStateOnFailure, startCluster } from "../support/cluster.js";
import type { Cluster } from "../support/cluster.js";
import { labPath, labsSkip } from "../support/labs.js";
import { httpRequest, waitFor } from "../support/net.js";
import type { HttpResponse } from "../support/net.js";
import { repoRoot } from "../support/paths.js";
import { benchAgentUpstream, helmFor } from "./support/helm.js";
import { withTestUpstreamImage } from "./support/lab-workloads.js";

const releaseNs = "istio-system";
const ns = "istioinaction";
const operatorSelector = "app.kubernetes.io/name=pilotfish,app.kubernetes.io/component=operator";
const serviceAccount = `system:serviceaccount:${releaseNs}:pilotfish`;
const propagation = { timeoutMs: 90_000, intervalMs: 250 };
const chartDefaults = load(readFileSync(join(chartDir, "values.yaml"), "utf8")) as { operator: { replicas: number; leaderElection: boolean } };

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
}

describe("the chart on the bench's node: helm install, upgrade, uninstall and kubectl apply -f config/", { skip: labsSkip() }, () => {
  let cluster: Cluster;
  let helmHome: string;
  let installStarted = 0;

  const kubectl = (args: readonly string[], namespace = ns, input?: string): Promise<string> =>
    cluster.kubectlOk(args, { namespace, ...(input === undefined ? {} : { input }) });
  const helm = (args: readonly string[]): Promise<string> => helmFor(cluster.kubeconfigPath, helmHome)(args);
  const gateway = (path: string, host: string): Promise<HttpResponse> =>
    httpRequest({ url: `http://${cluster.nodeIp}:30000${path}`, headers: { host }, timeoutMs: 5000 });
  const eventually = (what: string, status: number, upstream?: RegExp): Promise<HttpResponse> =>
    waitFor(async () => {
      try {
        const response = await gateway("/api/catalog", "webapp.istioinaction.io");
        return response.status === status && (!upstream || upstream.test(response.headers["x-upstream"] ?? "")) ? response : undefined;
      } catch {
        return undefined; // the gateway pod is not there yet, or between replicas
      }
    }, { ...propagation, what });
  const rollout = (deployment: string, namespace: string): Promise<string> => kubectl(["rollout", "status", `deployment/${deployment}`, "--timeout=180s"], namespace);
  /** Running operator pods that are not being deleted. */
  const operatorPods = async (): Promise<string[]> => {
    const list = JSON.parse(await kubectl(["get", "pods", "-l", operatorSelector, "-o", "json"], releaseNs)) as { items: { metadata: { name: string; deletionTimestamp?: string }; status: { phase: string } }[] };
    return list.items.filter((pod) => pod.status.phase === "Running" && !pod.metadata.deletionTimestamp).map((pod) => pod.metadata.name).sort();
  };
  /** The Lease holder when the chart elects a leader, else the one operator pod. */
  const leader = (): Promise<string> =>
    waitFor(async () => {
      const pods = await operatorPods();
      if (!chartDefaults.operator.leaderElection) return pods.length === 1 ? pods[0] : undefined;
      const result = await cluster.kubectl(["get", "lease", "pilotfish", "-o", "jsonpath={.spec.holderIdentity}"], { namespace: releaseNs });
      // The holder identity is the pod's hostname (= its name), then "_<uuid>" per process.
      const holder = result.stdout.trim();
      return result.code === 0 ? pods.find((pod) => holder === pod || holder.startsWith(`${pod}_`)) : undefined;
    }, { timeoutMs: 90_000, what: chartDefaults.operator.leaderElection ? "a Running operator pod holding Lease pilotfish" : "one Running operator pod" });
  /** Every gateway pod's agent says it serves from the operator (TLS, its token), not from the files. */
  const agentServingUpstream = (): Promise<void> =>
    waitFor(async () => {
      const pods = (await kubectl(["get", "pods", "-l", "istio=ingressgateway", "--field-selector=status.phase=Running", "-o", "name"], releaseNs)).split("\n").filter(Boolean);
      for (const pod of pods) {
        const logs = await cluster.kubectl(["logs", pod, "-c", "pilotfish-agent"], { namespace: releaseNs });
        if (!/serving upstream/.test(logs.stdout)) return false;
      }
      return pods.length > 0;
    }, { timeoutMs: 90_000, intervalMs: 1000, what: "every gateway pod's agent serving from the operator's ADS" }).then(() => undefined);
  const can = async (args: readonly string[]): Promise<string> => (await cluster.kubectl(["auth", "can-i", ...args, `--as=${serviceAccount}`])).stdout.trim();

  before(async () => {
    cluster = await startCluster({ images: ["operator", "proxy", "test-upstream"] });
    console.log(`# node ${cluster.nodeIp} up in ${cluster.startupMs} ms`);
    helmHome = mkdtempSync(join(tmpdir(), "pilotfish-e2e-helm-"));
  });

  after(async () => {
    if (cluster) {
      // A shared node (PILOTFISH_CLUSTER_DIR) is left as it was found; an own node just stops.
      if (process.env.PILOTFISH_CLUSTER_DIR) {
        await cluster.kubectl(["delete", "namespace", ns, "--wait=false"]);
        await cluster.kubectl(["delete", "-k", join(repoRoot, "config"), "--ignore-not-found", "--wait=false"]);
      }
      await cluster.stop();
    }
    if (helmHome) rmSync(helmHome, { recursive: true, force: true });
  });

  printClusterStateOnFailure(() => cluster, () => [releaseNs, ns]);

  it("helm lint is clean and helm template is accepted by the apiserver (server-side dry run)", async () => {
    const lint = await helm(["lint", "--strict", chartDir]);
    assert.match(lint, /0 chart\(s\) failed/);
    assert.doesNotMatch(lint, /\[(WARNING|ERROR)\]/);
    await cluster.kubectlOk(["create", "namespace", releaseNs]);
    const rendered = await helm(["template", "pilotfish", chartDir, "--namespace", releaseNs, "--include-crds", "--kube-version", kubeVersion]);
    const dryRun = await kubectl(["apply", "--dry-run=server", "-f", "-"], releaseNs, rendered);
    assert.match(dryRun, /deployment\.apps\/pilotfish created \(server dry run\)/);
    assert.match(dryRun, /validatingwebhookconfiguration\.admissionregistration\.k8s\.io\/pilotfish-validator created \(server dry run\)/);
    assert.equal((await cluster.kubectl(["get", "deployment", "pilotfish"], { namespace: releaseNs })).code, 1, "a dry run creates nothing");
  });

  it("helm install creates every object; the operator pods become Ready and one leads; the gateway boots from what it published", async () => {
    installStarted = Date.now();
    await helm(["install", "pilotfish", chartDir, "--namespace", releaseNs, "--create-namespace", "--wait", "--timeout", "4m", ...benchAgentUpstream]);
    console.log(`# helm install --wait (operator Ready, gateway Ready on its published config): ${Date.now() - installStarted} ms`);
    const manifest = (loadAll(await helm(["get", "manifest", "pilotfish", "--namespace", releaseNs])) as (Manifest | null)[]).filter((object): object is Manifest => object !== null);
    assert.ok(manifest.length >= 15, `${manifest.length} objects`);
    for (const object of manifest) {
      const result = await cluster.kubectl(["get", object.kind, object.metadata.name, ...(object.metadata.namespace ? ["-n", object.metadata.namespace] : [])]);
      assert.equal(result.code, 0, `${object.kind} ${object.metadata.name} exists: ${result.stderr}`);
    }
    for (const crd of ["gateways", "virtualservices", "destinationrules"]) await cluster.kubectlOk(["wait", "--for=condition=Established", `crd/${crd}.networking.istio.io`, "--timeout=60s"]);
    const pods = await operatorPods();
    assert.equal(pods.length, chartDefaults.operator.replicas);
    await kubectl(["wait", "--for=condition=Ready", "pod", "-l", operatorSelector, "--timeout=120s"], releaseNs);
    const image = await kubectl(["get", "pods", "-l", operatorSelector, "-o", "jsonpath={.items[0].spec.containers[0].image}"], releaseNs);
    assert.equal(image, "pilotfish/operator:0.1.0");
    console.log(`# leader: ${await leader()} of ${pods.join(", ")}`);
    // agent mode (the default): the agent in the gateway pod streams from the operator pod over TLS.
    await agentServingUpstream();
    // The operator published the gateway's five objects in-cluster (its ServiceAccount's token).
    const published = await kubectl(["get", "configmaps,secrets", "-l", "pilotfish.io/proxy=istio-ingressgateway", "-o", "name"], releaseNs);
    assert.equal(published.split("\n").filter(Boolean).length, 5, published);
  });

  it("lab L2 through the gateway's NodePort, the operator doing everything as a pod; the validating webhook answers through the Service", async () => {
    await cluster.kubectlOk(["create", "namespace", ns]);
    await kubectl(["apply", "-f", labPath("ch4", "coolstore-gw.yaml"), "-f", labPath("ch4", "coolstore-vs.yaml")]);
    const image = cluster.images["test-upstream"] ?? "";
    await kubectl(["apply", "-f", "-"], ns, withTestUpstreamImage(readFileSync(labPath("services", "webapp", "kubernetes", "webapp.yaml"), "utf8"), image));
    await kubectl(["apply", "-f", "-"], ns, withTestUpstreamImage(readFileSync(labPath("services", "catalog", "kubernetes", "catalog.yaml"), "utf8"), image));
    await rollout("webapp", ns);
    await eventually("200 from the webapp pod through the gateway", 200, /^webapp-/);
    console.log(`# helm install to the first request served by a lab workload: ${Date.now() - installStarted} ms`);
    const status = await kubectl(["get", "gateway", "coolstore-gateway", "-o", "jsonpath={.status.conditions[?(@.type==\"Programmed\")].status}"]);
    assert.equal(status, "True", "the operator pod wrote the Gateway's status");

    // The apiserver calls the operator pod through Service pilotfish:443 with the caBundle the
    // operator patched in: Istio's validation refuses the resource.
    const invalid = JSON.stringify({
      apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "zero-weights" },
      spec: { hosts: ["zero.istioinaction.io"], http: [{ route: [{ destination: { host: "webapp" }, weight: 0 }, { destination: { host: "catalog" }, weight: 0 }] }] },
    });
    const refusal = await waitFor(async () => {
      const result = await cluster.kubectl(["apply", "-f", "-"], { namespace: ns, input: invalid });
      if (result.code === 0) await cluster.kubectl(["delete", "virtualservice", "zero-weights"], { namespace: ns }); // the webhook was not reachable yet (Ignore)
      return result.code !== 0 ? result.stderr : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1000, what: "the validating webhook refusing a VirtualService" });
    assert.match(refusal, /admission webhook "validation\.istio\.io" denied the request/);
  });

  it("helm upgrade with changed values rolls out (gateway replicas, log level, Secrets narrowed to the release namespace)", async () => {
    const before = await operatorPods();
    await helm(["upgrade", "pilotfish", chartDir, "--namespace", releaseNs, "--reuse-values", "--set", "gateway.replicas=2", "--set", "operator.logLevel=debug", "--set", `rbac.secretsNamespaces={${releaseNs}}`, "--wait", "--timeout", "4m"]);
    await rollout("pilotfish", releaseNs);
    await rollout("istio-ingressgateway", releaseNs);
    assert.equal(await kubectl(["get", "deployment", "istio-ingressgateway", "-o", "jsonpath={.status.readyReplicas}"], releaseNs), "2");
    const args = await kubectl(["get", "deployment", "pilotfish", "-o", "jsonpath={.spec.template.spec.containers[0].args}"], releaseNs);
    assert.match(args, /--log-level=debug/);
    const after = await operatorPods();
    assert.equal(after.filter((pod) => before.includes(pod)).length, 0, `new operator pods: ${before.join(",")} → ${after.join(",")}`);
    assert.match(await helm(["history", "pilotfish", "--namespace", releaseNs]), /^2\s.*deployed/m);
    await eventually("200 through the gateway after the upgrade", 200, /^webapp-/);
  });

  it("helm upgrade to gateway.mode=files: the gateway pod drops the agent and keeps serving from the mounted files; back to agent", async () => {
    await helm(["upgrade", "pilotfish", chartDir, "--namespace", releaseNs, "--reuse-values", "--set", "gateway.mode=files", "--wait", "--timeout", "4m"]);
    await rollout("pilotfish", releaseNs);
    await rollout("istio-ingressgateway", releaseNs);
    // Every gateway pod (old agent-mode pods terminate after the rollout) runs Envoy alone.
    await waitFor(async () => {
      const pods = await kubectl(["get", "pods", "-l", "istio=ingressgateway", "-o", "jsonpath={range .items[*]}{.spec.initContainers[*].name}|{.status.containerStatuses[*].ready}{\"\\n\"}{end}"], releaseNs);
      const lines = pods.split("\n").filter(Boolean);
      return lines.length > 0 && lines.every((line) => line === "|true");
    }, { timeoutMs: 90_000, what: "every gateway pod without the agent, Envoy ready" });
    await eventually("200 through Envoy reading the mounted files", 200, /^webapp-/);
    await kubectl(["scale", "deployment/webapp", "--replicas=0"]);
    await eventually("503 once the webapp has no endpoint (the -eds file rewritten)", 503);
    await kubectl(["scale", "deployment/webapp", "--replicas=1"]);
    await rollout("webapp", ns);
    await eventually("200 again", 200, /^webapp-/);
    await helm(["upgrade", "pilotfish", chartDir, "--namespace", releaseNs, "--reuse-values", "--set", "gateway.mode=agent", "--wait", "--timeout", "4m"]);
    await rollout("istio-ingressgateway", releaseNs);
    await agentServingUpstream();
    await eventually("200 back in agent mode", 200, /^webapp-/);
  });

  it("the chart's ServiceAccount may do its job and nothing outside it", async () => {
    for (const args of [["watch", "gateways.networking.istio.io", "-A"], ["patch", "configmaps", "-n", releaseNs], ["get", "secrets", "-n", releaseNs], ["patch", "virtualservices.networking.istio.io", "--subresource=status", "-n", ns], ["update", "leases.coordination.k8s.io/pilotfish", "-n", releaseNs]]) {
      if (args[1]?.startsWith("leases") && !chartDefaults.operator.leaderElection) continue;
      assert.equal(await can(args), "yes", args.join(" "));
    }
    for (const args of [
      ["get", "secrets", "-n", "kube-system"], ["list", "secrets", "-n", ns],
      ["create", "deployments.apps", "-n", ns], ["patch", "deployments.apps", "-n", releaseNs], ["delete", "pods", "-n", ns],
      ["create", "clusterrolebindings.rbac.authorization.k8s.io"], ["patch", "clusterroles.rbac.authorization.k8s.io/pilotfish"], ["create", "rolebindings.rbac.authorization.k8s.io", "-n", releaseNs],
      ["escalate", "clusterroles.rbac.authorization.k8s.io"], ["bind", "clusterroles.rbac.authorization.k8s.io"],
      ["patch", "virtualservices.networking.istio.io", "-n", ns], ["delete", "configmaps", "-n", releaseNs],
      ["patch", "mutatingwebhookconfigurations.admissionregistration.k8s.io/other"],
    ]) {
      assert.equal(await can(args), "no", args.join(" "));
    }
  });

  it("kill the leader pod: the operator that remains (or replaces it) serves the next change", async () => {
    const killed = await leader();
    await kubectl(["delete", "pod", killed, "--wait=false"], releaseNs);
    await kubectl(["scale", "deployment/webapp", "--replicas=0"]);
    await eventually("503 once the webapp has no endpoint (published by the new leader)", 503);
    const now = await leader();
    assert.notEqual(now, killed);
    await kubectl(["scale", "deployment/webapp", "--replicas=1"]);
    await rollout("webapp", ns);
    await eventually("200 again", 200, /^webapp-/);
  });

  it("the gateway drained to 0 and back boots from its published ConfigMaps and Secret", async () => {
    await kubectl(["scale", "deployment/istio-ingressgateway", "--replicas=0"], releaseNs);
    await waitFor(async () => (await kubectl(["get", "pods", "-l", "istio=ingressgateway", "-o", "name"], releaseNs)).trim() === "", { timeoutMs: 60_000, what: "no gateway pod left" });
    await kubectl(["scale", "deployment/istio-ingressgateway", "--replicas=1"], releaseNs);
    await rollout("istio-ingressgateway", releaseNs);
    await eventually("200 from the gateway pod started from the published objects", 200, /^webapp-/);
  });

  it("helm uninstall leaves the CRDs and the users' Istio resources", async () => {
    await helm(["uninstall", "pilotfish", "--namespace", releaseNs, "--wait", "--timeout", "2m"]);
    assert.equal((await cluster.kubectl(["get", "deployment", "pilotfish"], { namespace: releaseNs })).code, 1, "the operator is gone");
    for (const crd of ["gateways", "virtualservices", "destinationrules"]) await cluster.kubectlOk(["get", `crd/${crd}.networking.istio.io`]);
    await kubectl(["get", "gateway/coolstore-gateway", "virtualservice/webapp-vs-from-gw"]);
  });

  it("kubectl apply -f config/ on the emptied namespace gives the same running system", async () => {
    await cluster.kubectlOk(["delete", "namespace", releaseNs, "--timeout=120s"]);
    const started = Date.now();
    const dir = (name: string): string => join(repoRoot, "config", name);
    await cluster.kubectlOk(["apply", "-f", dir("crd"), "-f", dir("rbac"), "-f", dir("operator"), "-f", dir("webhook"), "-f", dir("gateway")]);
    await rollout("pilotfish", releaseNs);
    await rollout("istio-ingressgateway", releaseNs);
    await eventually("200 through the gateway installed from config/", 200, /^webapp-/);
    console.log(`# kubectl apply -f config/ to the first request served: ${Date.now() - started} ms`);
    // kustomize's view of config/ is the same set of objects (nothing to change).
    const kustomized = await cluster.kubectlOk(["apply", "-k", join(repoRoot, "config"), "--dry-run=server"]);
    assert.doesNotMatch(kustomized, /created/, kustomized);
  });
});
