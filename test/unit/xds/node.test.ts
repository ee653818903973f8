import { test } from "node:test";
import assert from "node:assert/strict";
import { proxyKeyOf } from "../../../src/xds/node.js";

test("metadata NAMESPACE and WORKLOAD_NAME name the gateway Deployment", () => {
  assert.equal(proxyKeyOf({ id: "router~198.19.128.5~gw-abc-def.edge~edge.svc.cluster.local", cluster: "x", metadata: { NAMESPACE: "istio-system", WORKLOAD_NAME: "istio-ingressgateway" } }), "istio-system/istio-ingressgateway");
});

test("without metadata, the node id's pod name loses its ReplicaSet hash and suffix", () => {
  assert.equal(proxyKeyOf({ id: "router~198.19.128.5~istio-ingressgateway-5d8f7c9b4-x2kqv.istio-system~istio-system.svc.cluster.local", cluster: "", metadata: {} }), "istio-system/istio-ingressgateway");
  assert.equal(proxyKeyOf({ id: "router~127.0.0.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local", cluster: "", metadata: {} }), "istio-system/istio-ingressgateway");
});

test("an id that is not Istio's shape identifies nothing", () => {
  assert.equal(proxyKeyOf({ id: "envoy-1", cluster: "c", metadata: {} }), undefined);
  assert.equal(proxyKeyOf({ id: "router~1.2.3.4~nodot~ns.svc.cluster.local", cluster: "c", metadata: {} }), undefined);
});
