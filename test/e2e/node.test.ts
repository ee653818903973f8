/**
 * The bench's node is a real Kubernetes node: pods scheduled by the scheduler, started by the
 * kubelet through containerd and runc, wired by the CNI bridge, reached through kube-proxy; the
 * ConfigMap volumes, webhooks on pod CREATE and init containers that the operator and sidecar
 * injection rely on behave as in any cluster. One node for the whole file.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { dump } from "js-yaml";
import { createCa, issueCertificate } from "../../src/pki/index.js";
import { startCluster, printClusterStateOnFailure } from "../support/cluster.js";
import type { Cluster } from "../support/cluster.js";
import { httpRequest, waitFor } from "../support/net.js";
import { benchDir } from "../support/paths.js";

const namespace = "node-test";

describe("the bench's Kubernetes node", () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({ images: ["test-upstream", "proxy", "proxy-init"] });
    console.log(`# node ${cluster.nodeIp} up in ${cluster.startupMs} ms (${cluster.dir})`);
    await cluster.kubectlOk(["create", "namespace", namespace]);
    await waitFor(async () => (await cluster.kubectl(["get", "serviceaccount", "default"], { namespace })).code === 0, {
      timeoutMs: 30_000,
      what: "the namespace's default ServiceAccount",
    });
  });

  after(async () => {
    if (!cluster) return;
    await cluster.kubectl(["delete", "namespace", namespace, "--wait=false"]);
    await cluster.kubectl(["delete", "mutatingwebhookconfiguration", "node-test-webhook", "--ignore-not-found"]);
    await cluster.stop();
  });

  printClusterStateOnFailure(() => cluster, () => [namespace]);

  const apply = (manifests: readonly object[]): Promise<string> =>
    cluster.kubectlOk(["apply", "-f", "-"], { namespace, input: manifests.map((manifest) => dump(manifest)).join("---\n") });

  it("runs a 2-replica Deployment behind a ClusterIP and a NodePort Service; EndpointSlices list the pods", async () => {
    const started = Date.now();
    await apply([
      upstreamDeployment("echo", 2, cluster.images["test-upstream"]),
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "echo" },
        spec: { type: "NodePort", selector: { app: "echo" }, ports: [{ name: "http", port: 80, targetPort: 8080, nodePort: 30080 }] },
      },
    ]);
    await cluster.kubectlOk(["rollout", "status", "deployment/echo", "--timeout=120s"], { namespace });
    console.log(`# Deployment echo (2 replicas) available in ${Date.now() - started} ms`);

    const pods = JSON.parse(await cluster.kubectlOk(["get", "pods", "-l", "app=echo", "-o", "json"], { namespace })) as PodList;
    const podIps = pods.items.map((pod) => pod.status.podIP).sort();
    assert.equal(podIps.length, 2);
    for (const ip of podIps) assert.match(ip, /^198\.19\.(1(2[89]|[3-9]\d)|2\d\d)\.\d+$/, "pod IPs come from 198.19.128.0/17");

    const sliceIps = await waitFor(async () => {
      const slices = JSON.parse(await cluster.kubectlOk(["get", "endpointslices", "-l", "kubernetes.io/service-name=echo", "-o", "json"], { namespace })) as SliceList;
      const ready = slices.items.flatMap((slice) => (slice.endpoints ?? []).filter((endpoint) => endpoint.conditions?.ready).flatMap((endpoint) => endpoint.addresses)).sort();
      return ready.length === 2 ? ready : undefined;
    }, { timeoutMs: 30_000, what: "the controller-manager's EndpointSlice listing both pods as ready" });
    assert.deepEqual(sliceIps, podIps);

    const service = JSON.parse(await cluster.kubectlOk(["get", "service", "echo", "-o", "json"], { namespace })) as { spec: { clusterIP: string } };
    // scripts/node.sh: Services from 198.18.0.0/20.
    assert.match(service.spec.clusterIP, /^198\.18\.([0-9]|1[0-5])\.\d+$/);
    const podNames = pods.items.map((pod) => pod.metadata.name).sort();
    for (const [what, url] of [
      ["ClusterIP", `http://${service.spec.clusterIP}/whoami`],
      ["NodePort", `http://${cluster.nodeIp}:30080/whoami`],
    ] as const) {
      const answeredBy = new Set<string>();
      await waitFor(async () => {
        const response = await httpRequest({ url, timeoutMs: 2000 });
        assert.equal(response.status, 200);
        answeredBy.add(response.headers["x-upstream"] ?? "");
        return answeredBy.size === 2;
      }, { timeoutMs: 30_000, intervalMs: 20, what: `both pods answering through the ${what} (kube-proxy)` });
      assert.deepEqual([...answeredBy].sort(), podNames, `${what}: answered by each pod of the Deployment`);
    }
  });

  it("updates a mounted ConfigMap in the pod (kubelet's ..data swap); a projected volume joins ConfigMaps and a Secret", async () => {
    await cluster.kubectlOk(["create", "configmap", "greeting", "--from-literal=text=v1", "--from-literal=other=a"], { namespace });
    await cluster.kubectlOk(["create", "configmap", "second", "--from-literal=second.yaml=two"], { namespace });
    await cluster.kubectlOk(["create", "secret", "generic", "third", "--from-literal=third.yaml=three"], { namespace });
    await apply([
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "reader" },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: "app", image: cluster.images["test-upstream"], args: ["httpbin", "0.0.0.0", "8080", "reader"],
            volumeMounts: [{ name: "greeting", mountPath: "/config" }, { name: "all", mountPath: "/projected" }] }],
          volumes: [
            { name: "greeting", configMap: { name: "greeting" } },
            { name: "all", projected: { sources: [{ configMap: { name: "greeting" } }, { configMap: { name: "second" } }, { secret: { name: "third" } }] } },
          ],
        },
      },
    ]);
    await cluster.kubectlOk(["wait", "--for=condition=Ready", "pod/reader", "--timeout=120s"], { namespace });
    const readInPod = (script: string): Promise<string> =>
      cluster.kubectlOk(["exec", "reader", "--", "/usr/local/bin/node", "-e", script], { namespace });

    assert.equal(await readInPod("process.stdout.write(require('fs').readFileSync('/config/text','utf8'))"), "v1");
    const layout = JSON.parse(await readInPod(
      "const fs=require('fs');process.stdout.write(JSON.stringify({entries:fs.readdirSync('/config').sort(),data:fs.readlinkSync('/config/..data'),text:fs.readlinkSync('/config/text')}))",
    )) as { entries: string[]; data: string; text: string };
    assert.ok(layout.entries.includes("..data"), `kubelet's layout has ..data: ${layout.entries.join(" ")}`);
    assert.match(layout.data, /^\.\.\d{4}_\d\d_\d\d_/, "..data points at a timestamped folder");
    assert.equal(layout.text, "..data/text", "each key is a symlink through ..data");

    const projected = JSON.parse(await readInPod(
      "const fs=require('fs');process.stdout.write(JSON.stringify(fs.readdirSync('/projected').filter(n=>!n.startsWith('..')).sort().map(n=>[n,fs.readFileSync('/projected/'+n,'utf8')])))",
    )) as Array<[string, string]>;
    assert.deepEqual(projected, [["other", "a"], ["second.yaml", "two"], ["text", "v1"], ["third.yaml", "three"]]);

    const patched = Date.now();
    await cluster.kubectlOk(["patch", "configmap", "greeting", "--type=merge", "-p", JSON.stringify({ data: { text: "v2" } })], { namespace });
    await waitFor(async () => (await readInPod("process.stdout.write(require('fs').readFileSync('/config/text','utf8'))")) === "v2", {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: "the pod seeing the patched ConfigMap",
    });
    const seenMs = Date.now() - patched;
    await waitFor(async () => (await readInPod("process.stdout.write(require('fs').readFileSync('/projected/text','utf8'))")) === "v2", {
      timeoutMs: 20_000,
      what: "the projected volume seeing the patch",
    });
    console.log(`# ConfigMap patch visible in the pod after ${seenMs} ms (kubelet syncFrequency 1s, Watch strategy; includes kubectl exec round trips)`);
  });

  it("runs the proxy image's Envoy from a ConfigMap-mounted bootstrap and answers through a NodePort", async () => {
    const bootstrap = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: 15000 } } },
      static_resources: {
        listeners: [{
          name: "hello",
          address: { socket_address: { address: "0.0.0.0", port_value: 8080 } },
          filter_chains: [{
            filters: [{
              name: "envoy.filters.network.http_connection_manager",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                stat_prefix: "hello",
                route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "hello from envoy in a pod\n" } } }] }] },
                http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
              },
            }],
          }],
        }],
      },
    };
    await cluster.kubectlOk(["create", "configmap", "envoy-bootstrap", `--from-literal=envoy.yaml=${dump(bootstrap)}`], { namespace });
    await apply([
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "envoy" },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "envoy" } },
          template: {
            metadata: { labels: { app: "envoy" } },
            spec: {
              terminationGracePeriodSeconds: 1,
              securityContext: { runAsNonRoot: true },
              containers: [{
                name: "envoy",
                image: cluster.images.proxy,
                args: ["-c", "/etc/pilotfish/proxy/envoy.yaml", "--log-level", "info"],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { httpGet: { path: "/", port: 8080 }, periodSeconds: 1 },
                volumeMounts: [{ name: "config", mountPath: "/etc/pilotfish/proxy" }],
              }],
              volumes: [{ name: "config", configMap: { name: "envoy-bootstrap" } }],
            },
          },
        },
      },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "envoy" },
        spec: { type: "NodePort", externalTrafficPolicy: "Local", selector: { app: "envoy" }, ports: [{ name: "http", port: 80, targetPort: 8080, nodePort: 30081 }] },
      },
    ]);
    await cluster.kubectlOk(["rollout", "status", "deployment/envoy", "--timeout=120s"], { namespace });
    const response = await waitFor(async () => {
      const answer = await httpRequest({ url: `http://${cluster.nodeIp}:30081/`, timeoutMs: 2000 });
      return answer.status === 200 ? answer : undefined;
    }, { timeoutMs: 30_000, what: "Envoy answering on the NodePort" });
    assert.equal(response.body, "hello from envoy in a pod\n");
    assert.match(response.headers.server ?? "", /envoy/);
  });

  it("calls a MutatingWebhookConfiguration on pod CREATE and stores its patch", async () => {
    const ca = await createCa({ commonName: "node-test webhook CA" });
    const serving = await issueCertificate(ca, { commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"], usage: "server" });
    const calls: string[] = [];
    const server: Server = createServer({ cert: serving.fullChainPem, key: serving.privateKeyPem }, (request, response) => {
      let body = "";
      request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      request.on("end", () => {
        const review = JSON.parse(body) as { request: { uid: string; operation: string; object: { metadata: { name?: string; generateName?: string } } } };
        calls.push(`${review.request.operation} ${review.request.object.metadata.name ?? review.request.object.metadata.generateName ?? ""}`);
        const patch = [{ op: "add", path: "/metadata/annotations", value: { "node-test.pilotfish.io/mutated": "yes" } }];
        response.setHeader("content-type", "application/json");
        response.end(JSON.stringify({
          apiVersion: "admission.k8s.io/v1",
          kind: "AdmissionReview",
          response: { uid: review.request.uid, allowed: true, patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(patch)).toString("base64") },
        }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      await cluster.kubectlOk(["apply", "-f", "-"], {
        input: dump({
          apiVersion: "admissionregistration.k8s.io/v1",
          kind: "MutatingWebhookConfiguration",
          metadata: { name: "node-test-webhook" },
          webhooks: [{
            name: "mutate.node-test.pilotfish.io",
            admissionReviewVersions: ["v1"],
            sideEffects: "None",
            failurePolicy: "Fail",
            clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(ca.chainPem).toString("base64") },
            rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
          }],
        }),
      });
      // The apiserver reads webhook configurations from an informer: retry until it is in effect.
      await waitFor(async () => {
        await cluster.kubectl(["delete", "pod", "mutated", "--ignore-not-found", "--wait=false"], { namespace });
        await cluster.kubectlOk(["run", "mutated", `--image=${cluster.images["test-upstream"]}`, "--restart=Never"], { namespace });
        const annotations = JSON.parse(await cluster.kubectlOk(["get", "pod", "mutated", "-o", "jsonpath={.metadata.annotations}"], { namespace }) || "{}") as Record<string, string>;
        return annotations["node-test.pilotfish.io/mutated"] === "yes";
      }, { timeoutMs: 20_000, intervalMs: 500, what: "a pod created after the webhook carrying the webhook's annotation" });
      assert.ok(calls.includes("CREATE mutated"), `the apiserver called the webhook for the pod: ${calls.join(", ")}`);
    } finally {
      await cluster.kubectl(["delete", "mutatingwebhookconfiguration", "node-test-webhook", "--ignore-not-found"]);
      await cluster.kubectl(["delete", "pod", "mutated", "--ignore-not-found", "--wait=false"], { namespace });
      server.close();
    }
  });

  it("lets an init container with NET_ADMIN install an iptables rule in its pod's network namespace only", async () => {
    const rule = ["-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "9999", "-j", "REDIRECT", "--to-ports", "15001"];
    await apply([
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "captured" },
        spec: {
          terminationGracePeriodSeconds: 1,
          initContainers: [{ name: "init", image: cluster.images["proxy-init"], args: rule, securityContext: { capabilities: { add: ["NET_ADMIN"] }, runAsUser: 0 } }],
          containers: [{ name: "app", image: cluster.images["test-upstream"], args: ["httpbin", "0.0.0.0", "15001", "redirected"] }],
        },
      },
    ]);
    await cluster.kubectlOk(["wait", "--for=condition=Ready", "pod/captured", "--timeout=120s"], { namespace });

    // Behaviour: in the pod, a connection to port 9999 lands on the app listening on 15001.
    const answer = await cluster.kubectlOk(["exec", "captured", "--", "/usr/local/bin/node", "-e",
      "fetch('http://127.0.0.1:9999/whoami').then(r=>process.stdout.write(r.headers.get('x-upstream')))"], { namespace });
    assert.equal(answer, "redirected");

    // The rule lives in the pod's namespace (seen through the app container's PID), not the host's.
    const containerId = (await cluster.kubectlOk(["get", "pod", "captured", "-o", "jsonpath={.status.containerStatuses[0].containerID}"], { namespace })).replace(/^containerd:\/\//, "");
    const tasks = execFileSync(`${benchDir()}/bin/ctr`, ["--address", `${cluster.dir}/containerd/containerd.sock`, "--namespace", "k8s.io", "tasks", "ls"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const pid = tasks.split("\n").find((line) => line.startsWith(containerId))?.split(/\s+/)[1];
    assert.ok(pid, `the app container's task is running: ${tasks}`);
    const inPod = execFileSync("nsenter", ["-t", pid, "-n", "iptables", "-t", "nat", "-S", "OUTPUT"], { encoding: "utf8" });
    assert.match(inPod, /--dport 9999 -j REDIRECT --to-ports 15001/);
    const onHost = execFileSync("iptables", ["-t", "nat", "-S", "OUTPUT"], { encoding: "utf8" });
    assert.doesNotMatch(onHost, /--dport 9999 -j REDIRECT/);
  });
});

interface PodList {
  items: Array<{ metadata: { name: string }; status: { podIP: string } }>;
}

interface SliceList {
  items: Array<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }>;
}

function upstreamDeployment(name: string, replicas: number, image: string | undefined): object {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{
            name: "app",
            image,
            // The pod's name as the upstream's name, so a response says which pod answered.
            args: ["httpbin", "0.0.0.0", "8080", "$(POD_NAME)"],
            env: [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
            ports: [{ containerPort: 8080 }],
            readinessProbe: { httpGet: { path: "/status/200", port: 8080 }, periodSeconds: 1 },
          }],
        },
      },
    },
  };
}
