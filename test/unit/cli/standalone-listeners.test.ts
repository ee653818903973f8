/** `pilotfish run`'s port rule: listeners moved to the bind address and offset, described by the Gateway servers they serve. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeListeners, placeListeners } from "../../../src/cli/standalone/listeners.js";
import { compileGateway } from "../../../src/compile/compile.js";
import { parseManifests } from "../../../src/model/manifests.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";

const manifests = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["a.example.com"]
    tls: { httpsRedirect: true }
  - port: { number: 31400, name: tcp, protocol: TCP }
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: shop }
spec:
  hosts: ["*"]
  gateways: [gw]
  tcp: [{ route: [{ destination: { host: echo, port: { number: 9000 } } }] }]
`;

test("placeListeners: address and offset on every listener; names kept; an offset past 65535 is refused", () => {
  const inputs = parseManifests([manifests]).inputs;
  const compiled = compileGateway(buildSnapshot(inputs), defaultIngressGatewayProxy).resources;
  const placed = placeListeners(compiled, { address: "127.0.0.2", portOffset: 10000 });
  const sockets = placed.listeners.map((l) => [l.name, (l.address as { socket_address: { address: string; port_value: number } }).socket_address]);
  assert.deepEqual(sockets, [
    ["0.0.0.0_31400", { address: "127.0.0.2", port_value: 41400 }],
    ["0.0.0.0_8080", { address: "127.0.0.2", port_value: 18080 }],
  ]);
  assert.deepEqual(compiled.listeners.map((l) => (l.address as { socket_address: { port_value: number } }).socket_address.port_value), [31400, 8080], "the input is not modified");
  assert.throws(() => placeListeners(compiled, { address: "127.0.0.1", portOffset: 40000 }), /listener 0\.0\.0\.0_31400: port 31400 \+ --port-offset 40000 = 71400 is not a port; choose a smaller --port-offset/);

  const described = describeListeners(placed, inputs.gateways, defaultIngressGatewayProxy, { address: "127.0.0.2", portOffset: 10000 });
  assert.deepEqual(described, [
    { name: "0.0.0.0_31400", address: "127.0.0.2", port: 41400, serves: ["TCP * — Gateway shop/gw port 31400"] },
    { name: "0.0.0.0_8080", address: "127.0.0.2", port: 18080, serves: ["HTTP a.example.com (redirect to https) — Gateway shop/gw port 80"] },
  ]);
});
