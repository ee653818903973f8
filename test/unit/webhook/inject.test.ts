import assert from "node:assert/strict";
import { describe, it } from "node:test";
import jsonpatch from "fast-json-patch";
import type { Operation } from "fast-json-patch";
import { defaultInjectionSettings, injectPod, injectionDecision, injectionPatchText } from "../../../src/webhook/inject/inject.js";
import type { JsonObject } from "../../../src/webhook/inject/inject.js";
import { answerText, injectReview } from "../../../src/webhook/inject/review.js";

/** A pod as the apiserver sends it for a Deployment's ReplicaSet (defaulted, no name yet). */
function deploymentPod(extra: { labels?: Record<string, string>; annotations?: Record<string, string>; spec?: JsonObject } = {}): JsonObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: "deploy-websrv-7d7cf8586c-",
      namespace: "default",
      labels: { app: "deploy-websrv", "pod-template-hash": "7d7cf8586c", ...extra.labels },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "deploy-websrv-7d7cf8586c", uid: "u1", controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      containers: [{ name: "deploy-websrv", image: "nginx:alpine", ports: [{ containerPort: 80, protocol: "TCP" }] }],
      serviceAccountName: "default",
      ...extra.spec,
    },
  };
}

type Container = { name: string; image?: string; env?: Array<{ name: string; value?: string; valueFrom?: unknown }>; securityContext?: Record<string, unknown>; resources?: unknown; args?: string[]; command?: string[] };
const containers = (pod: JsonObject, field: "containers" | "initContainers"): Container[] => ((pod.spec as JsonObject)[field] ?? []) as Container[];
const env = (container: Container | undefined): Record<string, unknown> =>
  Object.fromEntries((container?.env ?? []).map((item) => [item.name, item.value ?? item.valueFrom]));
const applied = (pod: JsonObject, patch: Operation[]): JsonObject => jsonpatch.applyPatch(structuredClone(pod), patch, true, false).newDocument;

describe("injection decision", () => {
  it("injects by default, skips hostNetwork and opt-outs; the label wins over the annotation", () => {
    assert.deepEqual(injectionDecision(deploymentPod()), { inject: true });
    assert.deepEqual(injectionDecision(deploymentPod({ spec: { hostNetwork: true } })), { inject: false, reason: "hostNetwork pod" });
    assert.deepEqual(injectionDecision(deploymentPod({ annotations: { "sidecar.istio.io/inject": "false" } })), { inject: false, reason: "annotation sidecar.istio.io/inject=false" });
    assert.deepEqual(injectionDecision(deploymentPod({ labels: { "sidecar.istio.io/inject": "false" } })), { inject: false, reason: "label sidecar.istio.io/inject=false" });
    assert.deepEqual(injectionDecision(deploymentPod({ labels: { "sidecar.istio.io/inject": "true" }, annotations: { "sidecar.istio.io/inject": "false" } })), { inject: true });
    assert.equal(injectionDecision(deploymentPod({ labels: { "sidecar.istio.io/inject": "false" }, annotations: { "sidecar.istio.io/inject": "true" } })).inject, false);
  });
});

describe("injectPod", () => {
  const original = deploymentPod();
  const { pod, patch } = injectPod(original, "default", defaultInjectionSettings);

  it("adds istio-init (root, NET_ADMIN + NET_RAW only there) running the generated rules through iptables-restore", () => {
    const [init] = containers(pod, "initContainers");
    assert.equal(init?.name, "istio-init");
    assert.equal(init?.image, "pilotfish/proxy-init:0.1.0");
    assert.deepEqual(init?.command, ["/bin/sh", "-c", 'printf "%s" "$ISTIO_IPTABLES_RULES" | iptables-restore && iptables-save -t nat']);
    assert.deepEqual(init?.securityContext, { allowPrivilegeEscalation: false, capabilities: { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] }, privileged: false, readOnlyRootFilesystem: false, runAsGroup: 0, runAsNonRoot: false, runAsUser: 0 });
    const vars = env(init);
    assert.equal(vars.ISTIO_IPTABLES_ARGS, "-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x '' -b '*' -d 15090,15021,15020");
    assert.match(String(vars.ISTIO_IPTABLES_RULES), /^\*nat\n[\s\S]*-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n$/);
  });

  it("adds istio-proxy after the app: uid/gid 1337, non-root, read-only root, all capabilities dropped, Istio's env, port, probes, resources", () => {
    const list = containers(pod, "containers");
    assert.deepEqual(list.map((container) => container.name), ["deploy-websrv", "istio-proxy"]);
    const proxy = list[1] as Container & JsonObject;
    assert.equal(proxy.image, "pilotfish/proxy:1.40.0");
    assert.deepEqual(proxy.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, privileged: false, readOnlyRootFilesystem: true, runAsGroup: 1337, runAsNonRoot: true, runAsUser: 1337 });
    assert.deepEqual(proxy.ports, [{ containerPort: 15090, name: "http-envoy-prom", protocol: "TCP" }]);
    assert.deepEqual(proxy.readinessProbe, { httpGet: { path: "/healthz/ready", port: 15021 }, periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 });
    assert.deepEqual(proxy.startupProbe, { httpGet: { path: "/healthz/ready", port: 15021 }, periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 600 });
    assert.deepEqual(proxy.resources, { requests: { cpu: "10m", memory: "40Mi" }, limits: { cpu: "2", memory: "1Gi" } });
    const vars = env(proxy);
    assert.deepEqual(vars.POD_NAME, { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } });
    assert.deepEqual(vars.INSTANCE_IP, { fieldRef: { apiVersion: "v1", fieldPath: "status.podIP" } });
    assert.equal(vars.ISTIO_META_POD_PORTS, '[\n    {"containerPort":80,"protocol":"TCP"}\n]');
    assert.equal(vars.ISTIO_META_APP_CONTAINERS, "deploy-websrv");
    assert.equal(vars.ISTIO_META_WORKLOAD_NAME, "deploy-websrv");
    assert.equal(vars.ISTIO_META_OWNER, "kubernetes://apis/apps/v1/namespaces/default/deployments/deploy-websrv");
    assert.equal(vars.ISTIO_META_CLUSTER_ID, "Kubernetes");
    assert.equal(vars.ISTIO_META_MESH_ID, "cluster.local");
    assert.equal(vars.ISTIO_META_INTERCEPTION_MODE, "REDIRECT");
    for (const name of ["POD_NAMESPACE", "SERVICE_ACCOUNT", "HOST_IP", "PROXY_CONFIG", "ISTIO_META_NODE_NAME", "TRUST_DOMAIN", "ISTIO_CPU_LIMIT"]) assert.ok(name in vars, name);
  });

  it("labels and annotates as Istio does", () => {
    const metadata = pod.metadata as { labels: Record<string, string>; annotations: Record<string, string> };
    assert.equal(metadata.labels["security.istio.io/tlsMode"], "istio");
    assert.equal(metadata.labels["service.istio.io/canonical-name"], "deploy-websrv");
    assert.equal(metadata.labels["service.istio.io/canonical-revision"], "latest");
    assert.deepEqual(
      { ...metadata.annotations, "sidecar.istio.io/status": JSON.parse(metadata.annotations["sidecar.istio.io/status"] ?? "") as unknown },
      {
        "istio.io/rev": "default",
        "kubectl.kubernetes.io/default-container": "deploy-websrv",
        "kubectl.kubernetes.io/default-logs-container": "deploy-websrv",
        "prometheus.io/path": "/stats/prometheus",
        "prometheus.io/port": "15020",
        "prometheus.io/scrape": "true",
        "sidecar.istio.io/status": { initContainers: ["istio-init"], containers: ["istio-proxy"], volumes: ["istio-envoy", "istio-data", "istio-podinfo"], imagePullSecrets: null, revision: "default" },
      },
    );
  });

  it("is a JSON Patch that turns the original into the injected pod, with escaped paths", () => {
    assert.deepEqual(applied(original, patch), pod);
    assert.ok(patch.some((op) => op.path === "/metadata/labels/security.istio.io~1tlsMode"), JSON.stringify(patch.map((op) => op.path)));
    assert.ok(patch.some((op) => op.op === "add" && op.path === "/metadata/annotations"), "a pod without annotations gets the whole object");
  });

  it("keeps what the pod already has: init containers, volumes, labels, annotations", () => {
    const busy = deploymentPod({
      labels: { "app.kubernetes.io/name": "shop", version: "v2" },
      annotations: { team: "a", "prometheus.io/port": "9000" },
      spec: { initContainers: [{ name: "migrate", image: "x" }], volumes: [{ name: "data", emptyDir: {} }] },
    });
    const result = injectPod(busy, "default", defaultInjectionSettings);
    const spec = result.pod.spec as { initContainers: Container[]; volumes: Array<{ name: string }> };
    assert.deepEqual(spec.initContainers.map((c) => c.name), ["migrate", "istio-init"]);
    assert.deepEqual(spec.volumes.map((v) => v.name), ["data", "istio-envoy", "istio-data", "istio-podinfo"]);
    const metadata = result.pod.metadata as { labels: Record<string, string>; annotations: Record<string, string> };
    assert.equal(metadata.labels["service.istio.io/canonical-name"], "shop");
    assert.equal(metadata.labels["service.istio.io/canonical-revision"], "v2");
    assert.equal(metadata.annotations.team, "a");
    assert.equal(metadata.annotations["prometheus.io/port"], "9000", "a user's scrape port is kept");
    assert.deepEqual(applied(busy, result.patch), result.pod);
  });

  it("injects nothing twice: an injected pod comes out unchanged (empty patch)", () => {
    const again = injectPod(pod, "default", defaultInjectionSettings);
    assert.deepEqual(again.patch, []);
    assert.equal(containers(again.pod, "containers").filter((c) => c.name === "istio-proxy").length, 1);
  });

  it("re-renders after another webhook added a container (reinvocation): the newcomer is an app container", () => {
    const withExtra = structuredClone(pod);
    (withExtra.spec as { containers: Container[] }).containers.push({ name: "logger", image: "l" });
    const again = injectPod(withExtra, "default", defaultInjectionSettings);
    const names = containers(again.pod, "containers").map((c) => c.name);
    assert.deepEqual(names, ["deploy-websrv", "logger", "istio-proxy"]);
    assert.equal(env(containers(again.pod, "containers")[2]).ISTIO_META_APP_CONTAINERS, "deploy-websrv,logger");
  });

  it("honours resource and traffic annotations", () => {
    const annotated = deploymentPod({
      annotations: {
        "sidecar.istio.io/proxyCPU": "100m",
        "sidecar.istio.io/proxyMemoryLimit": "256Mi",
        "traffic.sidecar.istio.io/excludeOutboundIPRanges": "198.18.0.1/32",
        "traffic.sidecar.istio.io/excludeInboundPorts": "9000",
        "traffic.sidecar.istio.io/excludeOutboundPorts": "5432",
      },
    });
    const result = injectPod(annotated, "default", defaultInjectionSettings);
    const proxy = containers(result.pod, "containers")[1];
    assert.deepEqual(proxy?.resources, { requests: { cpu: "100m", memory: "40Mi" }, limits: { cpu: "2", memory: "256Mi" } });
    const init = env(containers(result.pod, "initContainers")[0]);
    assert.equal(init.ISTIO_IPTABLES_ARGS, "-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x 198.18.0.1/32 -b '*' -d 15090,15021,15020,9000 -o 5432");
    assert.match(String(init.ISTIO_IPTABLES_RULES), /-A ISTIO_OUTPUT -d 198\.18\.0\.1\/32 -j RETURN/);
    assert.match(String(init.ISTIO_IPTABLES_RULES), /-A ISTIO_INBOUND -p tcp -m tcp --dport 9000 -j RETURN/);
  });

  it("writes a first injection's patch directly, and it is exact: the same pod as a full diff gives, for every shape of pod", () => {
    const shapes: JsonObject[] = [
      deploymentPod(),
      deploymentPod({ labels: { "security.istio.io/tlsMode": "istio", "a/b~c": "x" }, annotations: { "prometheus.io/scrape": "false" } }),
      deploymentPod({ spec: { initContainers: [], volumes: [] } }),
      deploymentPod({ spec: { initContainers: [{ name: "one", image: "x" }, { name: "two", image: "y" }], volumes: [{ name: "v", emptyDir: {} }] } }),
      { apiVersion: "v1", kind: "Pod", metadata: { name: "bare" }, spec: { containers: [{ name: "c", image: "i" }] } },
    ];
    for (const shape of shapes) {
      const { pod: injected, patch } = injectPod(shape, "default", defaultInjectionSettings);
      assert.deepEqual(applied(shape, patch), injected);
      assert.deepEqual(applied(shape, patch), applied(shape, jsonpatch.compare(shape, injected)));
      assert.ok(patch.every((op) => op.op === "add"), "only adds");
    }
  });

  it("writes /inject's patch text from the serialized rendering: the same text as the patch's JSON, for every shape of pod and settings", () => {
    const shapes: JsonObject[] = [
      deploymentPod(),
      deploymentPod({ labels: { "security.istio.io/tlsMode": "istio", "a/b~c": "x", "service.istio.io/canonical-revision": "v9" }, annotations: { "prometheus.io/scrape": "false" } }),
      deploymentPod({ labels: { version: "v2", "app.kubernetes.io/name": "shop" }, annotations: { "kubectl.kubernetes.io/default-container": "x", note: "ünïcode ✓ \"quoted\" \u2028" } }),
      deploymentPod({ spec: { initContainers: [], volumes: [] } }),
      deploymentPod({ spec: { initContainers: [{ name: "one", image: "x" }, { name: "two", image: "y" }], volumes: [{ name: "v", emptyDir: {} }] } }),
      deploymentPod({ spec: { containers: [{ name: "a", image: "a", ports: [{ containerPort: 1, name: "p" }] }, { name: "b", image: "b", ports: [{ containerPort: 2 }] }] } }),
      deploymentPod({ spec: { containers: [] } }),
      deploymentPod({ annotations: { "sidecar.istio.io/proxyCPU": "100m", "traffic.sidecar.istio.io/excludeInboundPorts": "9000" } }),
      deploymentPod({ annotations: { "sidecar.istio.io/proxyCPU": "200m", "traffic.sidecar.istio.io/excludeOutboundPorts": "5432" } }),
      { apiVersion: "v1", kind: "Pod", metadata: { name: "bare" }, spec: { containers: [{ name: "c", image: "i" }] } },
      { apiVersion: "v1", kind: "Pod", metadata: { name: "no-containers" }, spec: {} },
      { apiVersion: "v1", kind: "Pod", spec: { containers: [{ name: "c", image: "i" }] } },
    ];
    const settingsList = [
      defaultInjectionSettings,
      { ...defaultInjectionSettings, discovery: { host: "198.19.127.1", port: 15010 } },
      { ...defaultInjectionSettings, revision: "canary", discovery: { host: "198.19.127.1", port: 15010, secure: { serverName: "pilotfish.istio-system.svc" } } },
    ];
    for (const settings of settingsList) {
      for (const shape of shapes) {
        for (let round = 0; round < 2; round++) {
          // Twice: the first call renders, the second is served from what was rendered.
          const { pod: injected, patch } = injectPod(shape, "shop", settings);
          const { text, operations } = injectionPatchText(shape, "shop", settings);
          assert.equal(text, JSON.stringify(patch), JSON.stringify(shape));
          assert.equal(operations, patch.length);
          assert.deepEqual(applied(shape, JSON.parse(text) as Operation[]), injected);
        }
        const injected = injectPod(shape, "shop", settings).pod;
        assert.deepEqual(injectionPatchText(injected, "shop", settings), { text: "[]", operations: 0 }, "an injected pod: nothing to do");
      }
    }
  });

  it("refuses an invalid override every time (a refusal is never cached as a rendering)", () => {
    const bad = deploymentPod({ annotations: { "sidecar.istio.io/proxyMemory": "lots" } });
    for (let round = 0; round < 2; round++) assert.throws(() => injectionPatchText(bad, "shop", defaultInjectionSettings), /proxyMemory: "lots" is not a Kubernetes quantity/);
  });

  it("with discovery settings, istio-proxy's bootstrap takes its config over ADS from there (and is the same string for every pod)", () => {
    const settings = { ...defaultInjectionSettings, discovery: { host: "198.19.127.1", port: 15010 } };
    const first = containers(injectPod(deploymentPod(), "default", settings).pod, "containers")[1];
    const second = containers(injectPod(deploymentPod({ labels: { app: "other" } }), "default", settings).pod, "containers")[1];
    const yaml = first?.args?.[first.args.indexOf("--config-yaml") + 1] ?? "";
    const bootstrap = JSON.parse(yaml) as { node: { metadata: Record<string, string> }; dynamic_resources?: unknown; static_resources: { clusters: Array<{ name: string; load_assignment?: unknown }> } };
    assert.ok(bootstrap.dynamic_resources, "LDS/CDS over ADS");
    assert.equal(bootstrap.node.metadata.WORKLOAD_NAME, "$(ISTIO_META_WORKLOAD_NAME)", "the kubelet expands the workload name the env carries");
    assert.match(JSON.stringify(bootstrap.static_resources.clusters.find((c) => c.name === "xds-grpc")), /198\.19\.127\.1.*15010/);
    assert.equal(second?.args?.[second.args.indexOf("--config-yaml") + 1], yaml);
    const passthrough = containers(injectPod(deploymentPod(), "default", defaultInjectionSettings).pod, "containers")[1];
    assert.equal((JSON.parse(passthrough?.args?.[1] ?? "{}") as { dynamic_resources?: unknown }).dynamic_resources, undefined, "without discovery: the static passthrough");
  });

  it("under the shared xDS contract, mounts the pilotfish token (audience pilotfish) and the CA root ConfigMap into istio-proxy, recorded in the status", () => {
    const settings = { ...defaultInjectionSettings, discovery: { host: "198.19.127.1", port: 15010, secure: { serverName: "pilotfish.istio-system.svc" } } };
    const { pod: secured, patch } = injectPod(deploymentPod(), "default", settings);
    const spec = secured.spec as { volumes: Array<{ name: string } & JsonObject> };
    assert.deepEqual(spec.volumes.find((v) => v.name === "pilotfish-token"), { name: "pilotfish-token", projected: { sources: [{ serviceAccountToken: { audience: "pilotfish", expirationSeconds: 3600, path: "pilotfish-token" } }] } });
    assert.deepEqual(spec.volumes.find((v) => v.name === "pilotfish-ca"), { name: "pilotfish-ca", configMap: { name: "pilotfish-ca-root" } });
    const proxy = containers(secured, "containers")[1] as Container & { volumeMounts: Array<{ name: string; mountPath: string }> };
    assert.deepEqual(proxy.volumeMounts.slice(-2).map((m) => [m.name, m.mountPath]), [["pilotfish-token", "/var/run/secrets/tokens"], ["pilotfish-ca", "/var/run/pilotfish/ca"]]);
    const status = JSON.parse((secured.metadata as { annotations: Record<string, string> }).annotations["sidecar.istio.io/status"] ?? "{}") as { volumes: string[] };
    assert.deepEqual(status.volumes, ["istio-envoy", "istio-data", "istio-podinfo", "pilotfish-token", "pilotfish-ca"]);
    assert.deepEqual(applied(deploymentPod(), patch), secured);
    assert.deepEqual(injectPod(secured, "default", settings).patch, [], "injecting the injected pod again changes nothing");
  });

  it("names a bare pod as its own workload", () => {
    const bare: JsonObject = { apiVersion: "v1", kind: "Pod", metadata: { name: "solo", labels: { app: "solo" } }, spec: { containers: [{ name: "c", image: "i" }] } };
    const vars = env(containers(injectPod(bare, "ns1", defaultInjectionSettings).pod, "containers")[1]);
    assert.equal(vars.ISTIO_META_WORKLOAD_NAME, "solo");
    assert.equal(vars.ISTIO_META_OWNER, "kubernetes://apis/v1/namespaces/ns1/pods/solo");
  });
});

describe("injectReview (/inject)", () => {
  const review = (object: unknown, operation = "CREATE"): unknown => ({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: { uid: "u-1", kind: { group: "", version: "v1", kind: "Pod" }, namespace: "default", operation, object },
  });

  it("answers with a base64 JSONPatch", () => {
    const { review: answer, summary } = injectReview(review(deploymentPod()), defaultInjectionSettings);
    assert.equal(answer.response.uid, "u-1");
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patchType, "JSONPatch");
    const patch = JSON.parse(Buffer.from(answer.response.patch ?? "", "base64").toString("utf8")) as Operation[];
    assert.ok(patch.length > 0);
    assert.match(summary, /^pod default\/deploy-websrv-7d7cf8586c-\*: injected/);
  });

  it("allows without a patch: opted-out pod, already injected pod, non-CREATE", () => {
    const optOut = injectReview(review(deploymentPod({ annotations: { "sidecar.istio.io/inject": "false" } })), defaultInjectionSettings);
    assert.deepEqual(optOut.review.response, { uid: "u-1", allowed: true });
    const injected = injectPod(deploymentPod(), "default", defaultInjectionSettings).pod;
    assert.deepEqual(injectReview(review(injected), defaultInjectionSettings).review.response, { uid: "u-1", allowed: true });
    assert.deepEqual(injectReview(review(deploymentPod(), "UPDATE"), defaultInjectionSettings).review.response, { uid: "u-1", allowed: true });
  });

  it("serializes its answer as JSON.stringify would, without scanning the patch", () => {
    const answers = [
      injectReview(review(deploymentPod()), defaultInjectionSettings).review,
      injectReview(review(deploymentPod({ annotations: { "sidecar.istio.io/inject": "false" } })), defaultInjectionSettings).review,
      injectReview(review(deploymentPod({ annotations: { "sidecar.istio.io/proxyCPU": "x" } })), defaultInjectionSettings).review,
    ];
    for (const answer of answers) assert.equal(answerText(answer), JSON.stringify(answer));
  });

  it("refuses a pod whose override annotation is invalid, saying which", () => {
    const bad = injectReview(review(deploymentPod({ annotations: { "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.0/40" } })), defaultInjectionSettings);
    assert.equal(bad.review.response.allowed, false);
    assert.match(bad.review.response.status?.message ?? "", /sidecar injection failed: annotation traffic.sidecar.istio.io\/excludeOutboundIPRanges: "10.0.0.0\/40" is not an IPv4 CIDR/);
  });
});
