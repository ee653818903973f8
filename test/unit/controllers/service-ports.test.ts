import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import type { Gateway } from "../../../src/model/istio.js";
import type { Service } from "../../../src/model/kube.js";
import { desiredPorts, exposingService, portsOwnedBy } from "../../../src/controllers/service-ports.js";
import type { KubeObject } from "../../../src/sources/kube/rest.js";
import type { GatewayDeployment } from "../../../src/sources/kube/source.js";

const deployment: GatewayDeployment = {
  namespace: "istio-system",
  name: "istio-ingressgateway",
  uid: "u",
  proxy: { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [] },
};
const service: Service = {
  metadata: { name: "istio-ingressgateway", namespace: "istio-system" },
  spec: { type: "NodePort", selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: 8080, nodePort: 30000 }] },
} as Service;
const gateway = (name: string, created: string, servers: [number, string][], annotations: Record<string, string> = {}): Gateway =>
  ({
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name, namespace: "shop", creationTimestamp: created, annotations },
    spec: { selector: { istio: "ingressgateway" }, servers: servers.map(([number, protocol]) => ({ port: { number, name: `p${number}`, protocol }, hosts: ["*"] })) },
  }) as unknown as Gateway;

describe("service ports", () => {
  test("the Service's own ports are skipped; the older Gateway wins a port; a pin sets nodePort", () => {
    const snapshot = buildSnapshot({
      gateways: [
        gateway("newer", "2026-01-02T00:00:00Z", [[31400, "TLS"]]),
        gateway("older", "2026-01-01T00:00:00Z", [[80, "HTTP"], [31400, "TCP"], [15443, "TLS"]], { "pilotfish.io/node-port-15443": "31443" }),
      ],
    });
    const { ports, problems } = desiredPorts(snapshot, deployment, service, new Set());
    assert.deepEqual(ports, [
      { name: "tls-15443", port: 15443, targetPort: 15443, protocol: "TCP", nodePort: 31443, gateway: "shop/older" },
      { name: "tcp-31400", port: 31400, targetPort: 31400, protocol: "TCP", gateway: "shop/older" },
    ]);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.gateway, "shop/newer");
    assert.match(problems[0]?.message ?? "", /already exposed for TCP by the older Gateway shop\/older/);
  });

  test("a port pilotfish owns stays desired though the Service has it", () => {
    const withOurs = { ...service, spec: { ...service.spec, ports: [...(service.spec?.ports ?? []), { name: "tcp-31400", port: 31400, targetPort: 31400, nodePort: 31111 }] } } as Service;
    const snapshot = buildSnapshot({ gateways: [gateway("g", "2026-01-01T00:00:00Z", [[31400, "TCP"]])] });
    assert.deepEqual(desiredPorts(snapshot, deployment, withOurs, new Set([31400])).ports.map((port) => port.port), [31400]);
    assert.deepEqual(desiredPorts(snapshot, deployment, withOurs, new Set()).ports, []);
  });

  test("managedFields → owned ports; the exposing Service is the one named like the Deployment", () => {
    const owned = portsOwnedBy(
      ({
        metadata: {
          managedFields: [
            { manager: "pilotfish", operation: "Apply", fieldsV1: { "f:spec": { "f:ports": { ".": {}, 'k:{"port":31400,"protocol":"TCP"}': {} } } } },
            { manager: "helm", operation: "Apply", fieldsV1: { "f:spec": { "f:ports": { 'k:{"port":80,"protocol":"TCP"}': {} } } } },
          ],
        },
      } as unknown as KubeObject),
      "pilotfish",
    );
    assert.deepEqual([...owned], [31400]);
    const other = { ...service, metadata: { name: "aaa", namespace: "istio-system" } } as Service;
    assert.equal(exposingService([other, service], deployment)?.metadata.name, "istio-ingressgateway");
  });
});
