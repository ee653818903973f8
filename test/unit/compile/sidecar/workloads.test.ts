import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { serviceVisibleTo } from "../../../../src/compile/sidecar/compile.js";
import { sidecarWorkloadOf, sidecarWorkloads } from "../../../../src/compile/sidecar/workloads.js";
import type { SidecarPod } from "../../../../src/compile/sidecar/workloads.js";
import type { Service } from "../../../../src/model/kube.js";

const status = '{"initContainers":["istio-init"],"containers":["istio-proxy"]}';

function pod(name: string, options: { namespace?: string; workload?: string; labels?: Record<string, string>; injected?: boolean; ports?: { name?: string; containerPort: number; protocol?: string }[] } = {}): SidecarPod {
  const injected = options.injected ?? true;
  return {
    metadata: {
      name,
      namespace: options.namespace ?? "shop",
      labels: options.labels ?? { app: "web", "pod-template-hash": name.slice(-5) },
      ...(injected ? { annotations: { "sidecar.istio.io/status": status } } : {}),
    },
    spec: {
      containers: [
        { name: "app", ports: options.ports ?? [{ containerPort: 8080 }] },
        ...(injected ? [{ name: "istio-proxy", ports: [{ name: "http-envoy-prom", containerPort: 15090 }], env: [{ name: "ISTIO_META_WORKLOAD_NAME", value: options.workload ?? "web" }] }] : []),
      ],
    },
  };
}

const service = (name: string, spec: Service["spec"], annotations?: Record<string, string>, namespace = "shop"): Service => ({ metadata: { name, namespace, ...(annotations ? { annotations } : {}) }, spec });

describe("sidecar workloads from injected pods", () => {
  it("groups a workload's pods under <namespace>/<workload>, leaves out pods without a sidecar and per-pod labels", () => {
    const workloads = sidecarWorkloads([pod("web-5d8f7-b2kqv"), pod("web-5d8f7-a1xyz"), pod("plain-1", { injected: false }), pod("api-7c-aaaaa", { workload: "api", labels: { app: "api" } })], []);
    assert.deepEqual(workloads.map((w) => [w.key, w.pods, w.labels]), [
      ["shop/api", ["api-7c-aaaaa"], { app: "api" }],
      ["shop/web", ["web-5d8f7-a1xyz", "web-5d8f7-b2kqv"], { app: "web" }],
    ]);
    assert.equal(sidecarWorkloadOf(pod("plain-1", { injected: false })), undefined);
  });

  it("takes inbound ports from app containers (not the proxy's) and the Services selecting the pods; the Service names the protocol", () => {
    const services = [
      service("web", { selector: { app: "web" }, ports: [{ name: "http-web", port: 80, targetPort: 8080 }, { name: "grpc", port: 9090, targetPort: "grpc-port" }] }),
      service("other-ns", { selector: { app: "web" }, ports: [{ name: "http", port: 81, targetPort: 7070 }] }, undefined, "elsewhere"),
      service("no-selector", { ports: [{ name: "http", port: 82, targetPort: 6060 }] }),
    ];
    const [web] = sidecarWorkloads([pod("web-1", { ports: [{ containerPort: 8080 }, { name: "grpc-port", containerPort: 9000 }, { containerPort: 5353, protocol: "UDP" }] })], services);
    assert.deepEqual(web?.ports, [{ port: 8080, name: "http-web" }, { port: 9000, name: "grpc" }]);
  });

  it("exportTo on a Service: absent or * everyone, . own namespace, a list of namespaces, ~ nobody", () => {
    const s = (value?: string): Service => service("web", {}, value === undefined ? undefined : { "networking.istio.io/exportTo": value });
    assert.equal(serviceVisibleTo(s(), "other"), true);
    assert.equal(serviceVisibleTo(s("*"), "other"), true);
    assert.equal(serviceVisibleTo(s("."), "shop"), true);
    assert.equal(serviceVisibleTo(s("."), "other"), false);
    assert.equal(serviceVisibleTo(s("a, other"), "other"), true);
    assert.equal(serviceVisibleTo(s("a,b"), "other"), false);
    assert.equal(serviceVisibleTo(s("~"), "shop"), false);
  });
});
