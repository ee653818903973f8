import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, DiscoveryV1Api, Watch } from "@kubernetes/client-node";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { endpointSliceManifest, registerUpstream } from "../support/cluster-fixtures.js";
import type { RegisterUpstreamOptions } from "../support/cluster-fixtures.js";
import { httpRequest, waitFor } from "../support/net.js";
import { startPodNetwork, startPodUpstream } from "../support/pods.js";
import { startControlPlane } from "../support/control-plane.js";
import type { ControlPlane } from "../support/control-plane.js";

const webappOptions: RegisterUpstreamOptions = {
  namespace: "istioinaction",
  name: "webapp",
  ports: [{ name: "http", port: 80, targetPort: 8080 }],
  endpoints: [],
};

describe("real control plane (etcd + kube-apiserver)", () => {
  let plane: ControlPlane;

  before(async () => {
    plane = await startControlPlane();
    const version = await plane.kubectlOk(["version", "-o", "json"]);
    const server = (JSON.parse(version) as { serverVersion: { gitVersion: string } }).serverVersion.gitVersion;
    console.log(`# kube-apiserver ${server} ready in ${plane.startupMs} ms at ${plane.server}`);
  });

  after(async () => {
    await plane?.stop();
  });

  it("creates with kubectl, reads back through client-node, and watches an update arrive", async () => {
    await plane.kubectlOk(["create", "namespace", "istioinaction"]);
    await plane.kubectlOk(["create", "configmap", "greeting", "--from-literal=text=hello"], { namespace: "istioinaction" });

    const core = plane.kubeConfig().makeApiClient(CoreV1Api);
    const read = await core.readNamespacedConfigMap({ name: "greeting", namespace: "istioinaction" });
    assert.equal(read.data?.text, "hello");

    const seen = new Promise<V1ConfigMap>((resolve, reject) => {
      const watch = new Watch(plane.kubeConfig());
      let abort: AbortController | undefined;
      const timer = setTimeout(() => {
        abort?.abort();
        reject(new Error("no MODIFIED event for configmap greeting within 20 s"));
      }, 20_000);
      watch
        .watch(
          "/api/v1/namespaces/istioinaction/configmaps",
          { resourceVersion: read.metadata?.resourceVersion, fieldSelector: "metadata.name=greeting" },
          (phase: string, object: V1ConfigMap) => {
            if (phase === "MODIFIED" && object.data?.text === "bonjour") {
              clearTimeout(timer);
              abort?.abort();
              resolve(object);
            }
          },
          (error: unknown) => {
            if (error && !(error instanceof Error && error.name === "AbortError")) reject(error);
          },
        )
        .then((controller) => {
          abort = controller;
        }, reject);
    });
    // The watch is opened from the read's resourceVersion, so this update cannot be missed.
    await plane.kubectlOk(["patch", "configmap", "greeting", "-p", '{"data":{"text":"bonjour"}}'], { namespace: "istioinaction" });
    const updated = await seen;
    assert.equal(updated.metadata?.name, "greeting");
    assert.notEqual(updated.metadata?.resourceVersion, read.metadata?.resourceVersion);
  });

  it("registers a pod's upstream as a Service with an EndpointSlice, as kubelet and the controllers would", async () => {
    // The apiserver itself refuses loopback endpoint addresses; pods live in network namespaces.
    const refused = await plane.kubectl(["apply", "-f", "-"], {
      namespace: "istioinaction",
      input: JSON.stringify(endpointSliceManifest({ ...webappOptions, endpoints: [{ address: "127.0.0.2" }] })),
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /may not be in the loopback range/);

    const network = await startPodNetwork();
    try {
      const pod = await network.createPod("webapp-0");
      const upstream = await startPodUpstream(pod, "httpbin", { port: 8080, name: "webapp" });
      const kubeConfig = plane.kubeConfig();
      const registered = await registerUpstream(kubeConfig, { ...webappOptions, endpoints: [{ address: pod.address }] });
      assert.match(registered.service.spec?.clusterIP ?? "", /^198\.18\.0\.\d+$/, "cluster IPs come from the benchmarking block");

      await registered.setEndpoints([{ address: pod.address }, { address: "198.19.254.9", ready: false }]);
      const slices = await kubeConfig.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({
        namespace: "istioinaction",
        labelSelector: "kubernetes.io/service-name=webapp",
      });
      assert.equal(slices.items.length, 1);
      const endpoints = slices.items[0]?.endpoints ?? [];
      assert.deepEqual(
        endpoints.map((endpoint) => [endpoint.addresses[0], endpoint.conditions?.ready]),
        [
          [pod.address, true],
          ["198.19.254.9", false],
        ],
      );
      assert.deepEqual(JSON.parse(JSON.stringify(slices.items[0]?.ports)), [{ name: "http", port: 8080, protocol: "TCP" }]);

      // The endpoint the apiserver now lists is a live server reachable from the host.
      const answer = await httpRequest({ url: `http://${pod.address}:8080/api/catalog` });
      assert.equal(answer.status, 200);
      assert.equal(answer.headers["x-upstream"], "webapp");
      await waitFor(() => upstream.hits("/api/catalog") === 1, { what: "the pod's upstream to log the hit" });
      await upstream.stop();
    } finally {
      await network.destroy();
    }
  });

  it("allocates a NodePort in the default range", async () => {
    const service = await plane.kubectlOk(
      ["create", "service", "nodeport", "probe", "--tcp=80:8080", "-o", "jsonpath={.spec.ports[0].nodePort}"],
      { namespace: "istioinaction" },
    );
    const nodePort = Number(service);
    assert.ok(nodePort >= 30000 && nodePort <= 32767, `nodePort ${service} in 30000-32767`);
  });
});
