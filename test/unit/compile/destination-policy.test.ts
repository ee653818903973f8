import { test } from "node:test";
import assert from "node:assert/strict";
import { compileGateway } from "../../../src/compile/compile.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import { parseManifests } from "../../../src/model/manifests.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";

const manifests = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["shop.example.test"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: ["shop.example.test"]
  gateways: [gw]
  http:
  - route:
    - destination: {host: catalog, subset: v2, port: {number: 80}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: catalog, namespace: shop}
spec:
  host: catalog
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    portLevelSettings:
    - port: {number: 80}
      connectionPool: {tcp: {maxConnections: 7}}
  subsets:
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {simple: RANDOM}
---
apiVersion: v1
kind: Service
metadata: {name: catalog, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 3000}]
`;

// Istio's order: the rule's policy with its port-level entry applied, then each field the subset
// sets, then the subset's own port-level entry. A shallow merge loses one or the other.
test("a subset's policy overrides field by field on top of the rule's port-level settings", () => {
  const { inputs } = parseManifests([manifests], "shop");
  const { resources } = compileGateway(buildSnapshot(inputs), defaultIngressGatewayProxy);
  const cluster = resources.clusters.find((candidate) => candidate.name === "outbound|80|v2|catalog.shop.svc.cluster.local");
  assert.ok(cluster, "subset cluster compiled");
  assert.equal(cluster.lb_policy, "RANDOM", "the subset's load balancer wins");
  const thresholds = (cluster.circuit_breakers as { thresholds: { max_connections?: number }[] }).thresholds;
  assert.equal(thresholds[0]?.max_connections, 7, "the rule's port-level connection pool still applies");
});

const hashing = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["shop.example.test"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: shop}
spec:
  hosts: ["shop.example.test"]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /split}}]
    route:
    - {destination: {host: catalog}, weight: 50}
    - {destination: {host: webapp}, weight: 50}
  - route:
    - destination: {host: catalog}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: catalog, namespace: shop}
spec:
  host: catalog
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
---
apiVersion: v1
kind: Service
metadata: {name: catalog, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 3000}]
---
apiVersion: v1
kind: Service
metadata: {name: webapp, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

test("routes to a consistent-hash cluster carry the hash key and keep retries on the same host", () => {
  const { inputs } = parseManifests([hashing], "shop");
  const { resources } = compileGateway(buildSnapshot(inputs), defaultIngressGatewayProxy);
  const routes = (resources.routes[0]?.virtual_hosts as { routes: { match: { prefix: string }; route: Record<string, unknown> }[] }[])[0]?.routes ?? [];
  const single = routes.find((route) => route.match.prefix === "/");
  assert.deepEqual(single?.route.hash_policy, [{ header: { header_name: "x-user" } }]);
  const retry = single?.route.retry_policy as Record<string, unknown>;
  assert.equal(retry.retry_host_predicate, undefined, "previous_hosts would move a hashed request to another host");
  assert.equal(retry.num_retries, 2);
  const split = routes.find((route) => route.match.prefix === "/split");
  assert.equal(split?.route.hash_policy, undefined, "weighted routes do not hash (Istio's rule)");
  assert.ok((split?.route.retry_policy as Record<string, unknown>).retry_host_predicate);
  const cluster = resources.clusters.find((candidate) => candidate.name === "outbound|80||catalog.shop.svc.cluster.local");
  assert.equal(cluster?.lb_policy, "RING_HASH");
});
