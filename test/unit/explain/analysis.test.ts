/** analyze's cross-reference checks, each on the smallest manifests that trigger it, and silence on a correct set. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { dump } from "js-yaml";
import { crossReferenceFindings } from "../../../src/cli/commands/analyze.js";

const gateway = (servers: object[], name = "gw", selector: Record<string, string> = { istio: "ingressgateway" }) =>
  dump({ apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name, namespace: "shop" }, spec: { selector, servers } });
const http80 = (hosts: string[]) => ({ port: { number: 80, name: "http", protocol: "HTTP" }, hosts });
const virtualService = (name: string, spec: object) => dump({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name, namespace: "shop" }, spec });
const service = (name: string, ports: number[], namespace = "shop", selector?: Record<string, string>) =>
  dump({ apiVersion: "v1", kind: "Service", metadata: { name, namespace }, spec: { ...(selector ? { selector } : {}), ports: ports.map((port) => ({ name: `p${port}`, port })) } });
const route = (host: string, extra: object = {}) => [{ destination: { host, ...extra } }];

const codesOf = (texts: string[]): string[] => crossReferenceFindings(texts, "shop").map((f) => `${f.code} ${f.kind}/${f.resourceName} ${f.field}`).sort();

describe("analyze cross-references", () => {
  test("a correct set has no finding", () => {
    assert.deepEqual(codesOf([gateway([http80(["a.example"])]), virtualService("a", { hosts: ["a.example"], gateways: ["gw"], http: [{ route: route("web", { port: { number: 80 } }) }] }), service("web", [80])]), []);
  });

  test("IST0101: missing Gateway, Service, port, subset", () => {
    const found = codesOf([
      gateway([http80(["a.example"])]),
      virtualService("missing-gw", { hosts: ["a.example"], gateways: ["nope"], http: [{ route: route("web") }] }),
      virtualService("refs", {
        hosts: ["a.example"],
        gateways: ["gw"],
        http: [{ match: [{ uri: { prefix: "/x" } }], route: route("ghost") }, { match: [{ uri: { prefix: "/y" } }], route: route("web", { port: { number: 81 } }) }, { route: route("web", { subset: "v9" }) }],
      }),
      service("web", [80]),
    ]);
    assert.deepEqual(found, [
      "IST0101 VirtualService/missing-gw spec.gateways[0]",
      "IST0101 VirtualService/refs spec.http[0].route[0].destination.host",
      "IST0101 VirtualService/refs spec.http[1].route[0].destination.port.number",
      "IST0101 VirtualService/refs spec.http[2].route[0].destination.subset",
      // Both VirtualServices bind a.example (one to the missing Gateway): not the same Gateway, no conflict.
    ]);
  });

  test("IST0112: a Service with two ports and no port selector", () => {
    assert.deepEqual(codesOf([gateway([http80(["a.example"])]), virtualService("a", { hosts: ["a.example"], gateways: ["gw"], http: [{ route: route("web") }] }), service("web", [80, 8080])]), ["IST0112 VirtualService/a spec.http[0].route[0].destination.port"]);
  });

  test("IST0132: a host no server of the Gateway serves", () => {
    assert.deepEqual(codesOf([gateway([http80(["a.example"])]), virtualService("b", { hosts: ["b.example"], gateways: ["gw"], http: [{ route: route("web") }] }), service("web", [80])]), ["IST0132 VirtualService/b spec.hosts[0]"]);
  });

  test("IST0101 and IST0161: credentials missing or unusable", () => {
    const https = (credentialName: string) => ({ port: { number: 443, name: `https-${credentialName}`, protocol: "HTTPS" }, hosts: [`${credentialName}.example`], tls: { mode: "SIMPLE", credentialName } });
    const broken = dump({ apiVersion: "v1", kind: "Secret", metadata: { name: "broken", namespace: "istio-system" }, type: "kubernetes.io/tls", stringData: { "tls.crt": "not a certificate", "tls.key": "nor a key" } });
    const found = crossReferenceFindings([gateway([https("absent"), https("broken")]), broken], "shop");
    assert.deepEqual(found.map((f) => `${f.code} ${f.field}`), ["IST0101 spec.servers[0].tls.credentialName", "IST0161 spec.servers[1].tls.credentialName"]);
    assert.match(found[0]?.fix ?? "", /kubectl create -n istio-system secret tls absent/);
  });

  test("PF0101 on a Gateway, IST0109 on the mesh: two VirtualServices, one host", () => {
    const found = codesOf([
      gateway([http80(["a.example"])]),
      virtualService("one", { hosts: ["a.example"], gateways: ["gw"], http: [{ route: route("web") }] }),
      virtualService("two", { hosts: ["a.example"], gateways: ["shop/gw"], http: [{ route: route("web") }] }),
      virtualService("m1", { hosts: ["web"], http: [{ route: route("web") }] }),
      virtualService("m2", { hosts: ["web.shop.svc.cluster.local"], http: [{ route: route("web") }] }),
      service("web", [80]),
    ]);
    assert.deepEqual(found, ["IST0109 VirtualService/m1 spec.hosts", "IST0109 VirtualService/m2 spec.hosts", "PF0101 VirtualService/one spec.hosts", "PF0101 VirtualService/two spec.hosts"]);
  });

  test("IST0130: rules after a catch-all, and a rule whose match an earlier rule took", () => {
    const found = codesOf([
      gateway([http80(["a.example"])]),
      virtualService("order", {
        hosts: ["a.example"],
        gateways: ["gw"],
        http: [{ match: [{ uri: { prefix: "/api" } }], route: route("web") }, { match: [{ uri: { prefix: "/api" } }], route: route("web") }, { match: [{ uri: { prefix: "/" } }], route: route("web") }, { name: "late", match: [{ uri: { prefix: "/late" } }], route: route("web") }],
      }),
      service("web", [80]),
    ]);
    assert.deepEqual(found, ["IST0130 VirtualService/order spec.http[1].match", "IST0130 VirtualService/order spec.http[3]"]);
  });

  test("IST0162: a Gateway port the ingress Service does not expose", () => {
    const found = codesOf([
      gateway([http80(["a.example"]), { port: { number: 8443, name: "other", protocol: "HTTP" }, hosts: ["a.example"] }]),
      service("istio-ingressgateway", [80, 443], "istio-system", { istio: "ingressgateway" }),
    ]);
    assert.deepEqual(found, ["IST0162 Gateway/gw spec.servers[1].port.number"]);
  });
});
