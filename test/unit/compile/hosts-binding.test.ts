import { test } from "node:test";
import assert from "node:assert/strict";
import { covers, intersect, parseServerHost } from "../../../src/compile/hosts.js";
import { gatewayRefs, listenerPortFor, visibleTo } from "../../../src/compile/binding.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import { parseManifests } from "../../../src/model/manifests.js";
import { escapeFileName, fileLayout, kubeletDataLink } from "../../../src/envoy/layout.js";
import type { VirtualService } from "../../../src/model/istio.js";

test("wildcard host coverage and intersection", () => {
  assert.equal(covers("*", "a.b"), true);
  assert.equal(covers("*.example.com", "a.example.com"), true);
  assert.equal(covers("*.example.com", "example.com"), false);
  assert.equal(covers("*.example.com", "*.a.example.com"), true);
  assert.equal(intersect("*.example.com", "api.example.com"), "api.example.com");
  assert.equal(intersect("api.example.com", "*"), "api.example.com");
  assert.equal(intersect("a.com", "b.com"), undefined);
});

test("server host namespaces and gateway references", () => {
  assert.deepEqual(parseServerHost("./a.com", "gw-ns"), { namespace: "gw-ns", host: "a.com" });
  assert.deepEqual(parseServerHost("*/a.com", "gw-ns"), { namespace: "*", host: "a.com" });
  assert.deepEqual(parseServerHost("a.com", "gw-ns"), { namespace: "*", host: "a.com" });
  const vs = { metadata: { name: "v", namespace: "app" }, spec: { gateways: ["gw", "./gw2", "edge/gw3", "mesh"] } } as VirtualService;
  assert.deepEqual(gatewayRefs(vs), ["app/gw", "app/gw2", "edge/gw3"]);
  assert.equal(visibleTo({ ...vs, spec: { ...vs.spec, exportTo: ["."] } }, "istio-system"), false);
  assert.equal(visibleTo({ ...vs, spec: { ...vs.spec, exportTo: ["istio-system"] } }, "istio-system"), true);
});

test("listener ports follow the gateway Service's targetPort", () => {
  assert.equal(listenerPortFor(80, defaultIngressGatewayProxy), 8080);
  assert.equal(listenerPortFor(443, defaultIngressGatewayProxy), 8443);
  assert.equal(listenerPortFor(31400, defaultIngressGatewayProxy), 31400);
  assert.equal(listenerPortFor(9999, defaultIngressGatewayProxy), 9999);
});

test("manifests: -n fills namespaces, later duplicates replace earlier ones", () => {
  const { inputs } = parseManifests(["kind: Gateway\nmetadata: {name: g}\nspec: {servers: []}\n---\nkind: Gateway\nmetadata: {name: g}\nspec: {selector: {a: b}}\n"], "ns1");
  assert.equal(inputs.gateways.length, 1);
  assert.equal(inputs.gateways[0]?.metadata.namespace, "ns1");
  assert.deepEqual(inputs.gateways[0]?.spec.selector, { a: "b" });
});

test("file layout: ConfigMap-safe, injective names, one file per RDS/EDS resource", () => {
  assert.equal(escapeFileName("outbound|80||a.b"), "outbound_7c80_7c_7ca.b");
  assert.notEqual(escapeFileName("a_b"), escapeFileName("a|b"));
  const files = fileLayout(
    {
      listeners: [],
      clusters: [],
      routes: [{ "@type": "t", name: "http.8080" }],
      endpoints: [{ "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", name: "outbound|80||a.b", cluster_name: "outbound|80||a.b" }],
      secrets: [],
    },
    "/etc/pilotfish",
  );
  assert.deepEqual(files.map((f) => f.name), ["cds.yaml", "eds.outbound_7c80_7c_7ca.b.yaml", "lds.yaml", "rds.http.8080.yaml"]);
  for (const file of files) assert.match(file.name, /^[-._a-zA-Z0-9]+$/);
  assert.doesNotMatch(files[1]?.content ?? "", /^\s*name:/m, "ClusterLoadAssignment carries cluster_name only");
});

test("file layout through kubelet's ..data link: every reference reads through it, the folder itself is watched", () => {
  const cluster = { "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name: "outbound|80||a.b", type: "EDS", eds_cluster_config: { eds_config: { ads: {} } } };
  const listener = {
    "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
    name: "0.0.0.0_8080",
    filter_chains: [{ filters: [{ name: "hcm", typed_config: { rds: { route_config_name: "http.8080", config_source: { ads: {} } } } }] }],
  };
  const resources = { listeners: [listener], clusters: [cluster], routes: [], endpoints: [], secrets: [] };
  const through = fileLayout(resources, "/etc/pilotfish", kubeletDataLink);
  const cds = through.find((file) => file.name === "cds.yaml")?.content ?? "";
  assert.match(cds, /path: \/etc\/pilotfish\/\.\.data\/eds\.outbound_7c80_7c_7ca\.b\.yaml/);
  assert.match(cds, /watched_directory:\s+path: \/etc\/pilotfish\n/);
  const lds = through.find((file) => file.name === "lds.yaml")?.content ?? "";
  assert.match(lds, /path: \/etc\/pilotfish\/\.\.data\/rds\.http\.8080\.yaml/);
  const plain = fileLayout(resources, "/etc/pilotfish");
  assert.match(plain.find((file) => file.name === "cds.yaml")?.content ?? "", /path: \/etc\/pilotfish\/eds\.outbound/);
});
