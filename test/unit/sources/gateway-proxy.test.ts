import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { proxyFor, relevantFingerprint } from "../../../src/sources/kube/source.js";
import type { Service } from "../../../src/model/kube.js";

const ingress: Service = {
  metadata: { name: "istio-ingressgateway", namespace: "istio-system" },
  spec: {
    selector: { istio: "ingressgateway" },
    ports: [
      { name: "http2", port: 80, targetPort: 8080, nodePort: 30000, protocol: "TCP" },
      { name: "https", port: 443, targetPort: 8443, nodePort: 30005, protocol: "TCP" },
    ],
  },
};

describe("gateway proxy from a Deployment", () => {
  const podLabels = { app: "istio-ingressgateway", istio: "ingressgateway" };

  test("pod labels and the ports of the Service selecting the pods", () => {
    const proxy = proxyFor("istio-system", "istio-ingressgateway", podLabels, [ingress]);
    assert.deepEqual(proxy, {
      name: "istio-ingressgateway",
      namespace: "istio-system",
      labels: podLabels,
      servicePorts: [
        { name: "http2", port: 80, targetPort: 8080, nodePort: 30000, protocol: "TCP" },
        { name: "https", port: 443, targetPort: 8443, nodePort: 30005, protocol: "TCP" },
      ],
    });
  });

  test("Services in other namespaces, with other selectors or none, do not count", () => {
    const elsewhere: Service = { ...ingress, metadata: { name: "x", namespace: "default" } };
    const other: Service = { ...ingress, metadata: { name: "y", namespace: "istio-system" }, spec: { ...ingress.spec, selector: { istio: "egress" } } };
    const headless: Service = { metadata: { name: "z", namespace: "istio-system" }, spec: { ports: [{ port: 9 }] } };
    assert.deepEqual(proxyFor("istio-system", "gw", podLabels, [elsewhere, other, headless]).servicePorts, []);
  });

  test("several Services: ports merged, the first by name wins a port number", () => {
    const extra: Service = {
      metadata: { name: "zz-extra", namespace: "istio-system" },
      spec: { selector: { app: "istio-ingressgateway" }, ports: [{ name: "tcp", port: 31400, targetPort: 31400 }, { name: "dup", port: 80, targetPort: 9999 }] },
    };
    const ports = proxyFor("istio-system", "gw", podLabels, [extra, ingress]).servicePorts;
    assert.deepEqual(ports.map((port) => [port.port, port.targetPort]), [[80, 8080], [443, 8443], [31400, 31400]]);
  });

  test("a named targetPort resolves to the Deployment's container port of that name", () => {
    const named: Service = {
      metadata: { name: "gw", namespace: "istio-system" },
      spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: "http2" }, { name: "other", port: 81, targetPort: "nope" }] },
    };
    const ports = proxyFor("istio-system", "gw", podLabels, [named], { http2: 8080 }).servicePorts;
    assert.deepEqual(ports.map((port) => [port.port, port.targetPort]), [[80, 8080], [81, undefined]]);
  });
});

describe("relevant changes", () => {
  const pod = (labels: Record<string, string>, podIP: string, phaseNote: string) => ({
    metadata: { uid: "p1", name: "p", namespace: "n", labels, resourceVersion: phaseNote },
    status: { podIP, conditions: [{ type: "Ready", status: phaseNote }] },
  });

  test("a pod's readiness flip is not a change; its labels or IP are", () => {
    assert.equal(relevantFingerprint("Pod", pod({ app: "a" }, "198.19.0.2", "True")), relevantFingerprint("Pod", pod({ app: "a" }, "198.19.0.2", "False")));
    assert.notEqual(relevantFingerprint("Pod", pod({ app: "a" }, "198.19.0.2", "True")), relevantFingerprint("Pod", pod({ app: "b" }, "198.19.0.2", "True")));
    assert.notEqual(relevantFingerprint("Pod", pod({ app: "a" }, "198.19.0.2", "True")), relevantFingerprint("Pod", pod({ app: "a" }, "198.19.0.3", "True")));
  });

  test("an Istio resource changes with its generation, not with a status write", () => {
    const vs = (generation: number, resourceVersion: string) => ({ metadata: { uid: "v1", name: "vs", namespace: "n", generation, resourceVersion }, status: { resourceVersion } });
    assert.equal(relevantFingerprint("VirtualService", vs(1, "10")), relevantFingerprint("VirtualService", vs(1, "11")));
    assert.notEqual(relevantFingerprint("VirtualService", vs(1, "10")), relevantFingerprint("VirtualService", vs(2, "12")));
  });

  test("a Deployment changes with its pod template labels or ports, not with replica counts", () => {
    const deployment = (labels: Record<string, string>, readyReplicas: number) => ({
      metadata: { uid: "d1", name: "gw", namespace: "n", resourceVersion: String(readyReplicas) },
      spec: { template: { metadata: { labels }, spec: { containers: [{ ports: [{ name: "http2", containerPort: 8080 }] }] } } },
      status: { readyReplicas },
    });
    assert.equal(relevantFingerprint("Deployment", deployment({ istio: "ingressgateway" }, 0)), relevantFingerprint("Deployment", deployment({ istio: "ingressgateway" }, 1)));
    assert.notEqual(relevantFingerprint("Deployment", deployment({ istio: "ingressgateway" }, 1)), relevantFingerprint("Deployment", deployment({ istio: "other" }, 1)));
  });
});
