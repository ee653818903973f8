import { test } from "node:test";
import assert from "node:assert/strict";
import { emptyResources } from "../../../src/envoy/resources.js";
import type { EnvoyResources } from "../../../src/envoy/resources.js";
import { typeUrl } from "../../../src/envoy/types.js";
import { SnapshotStore } from "../../../src/xds/store.js";

function resources(endpointPort: number): EnvoyResources {
  const r = emptyResources();
  r.clusters.push({ "@type": typeUrl.cluster, name: "c", type: "EDS", eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } } });
  r.endpoints.push({
    "@type": typeUrl.clusterLoadAssignment,
    name: "c",
    cluster_name: "c",
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: endpointPort } } } }] }],
  });
  return r;
}

test("versions are content hashes; only changed types are reported; bytes are reused", () => {
  const store = new SnapshotStore();
  const heard: string[][] = [];
  store.subscribe((_key, _snapshot, changed) => heard.push([...changed]));
  assert.deepEqual([...store.setSnapshot("ns/gw", resources(1))], ["CDS", "EDS", "LDS", "RDS", "SDS"]);
  const first = store.getSnapshot("ns/gw")!;
  assert.deepEqual([...store.setSnapshot("ns/gw", resources(1))], [], "same content, no change");
  assert.deepEqual([...store.setSnapshot("ns/gw", resources(2))], ["EDS"]);
  const second = store.getSnapshot("ns/gw")!;
  assert.equal(second.versions.CDS, first.versions.CDS);
  assert.notEqual(second.versions.EDS, first.versions.EDS);
  assert.equal(second.types.CDS.get("c")!.bytes, first.types.CDS.get("c")!.bytes, "an unchanged resource keeps its encoded bytes");
  assert.deepEqual(heard, [["CDS", "EDS", "LDS", "RDS", "SDS"], ["EDS"]]);
  // Another proxy with the same content shares the versions.
  store.setSnapshot("ns/other", resources(2));
  assert.equal(store.getSnapshot("ns/other")!.versions.EDS, second.versions.EDS);
});

test("a resource that cannot be encoded leaves the previous snapshot", () => {
  const store = new SnapshotStore();
  store.setSnapshot("ns/gw", resources(1));
  const before = store.getSnapshot("ns/gw");
  const bad = resources(3);
  bad.clusters[0]!.not_a_field = true;
  assert.throws(() => store.setSnapshot("ns/gw", bad), /CDS c\.not_a_field/);
  assert.equal(store.getSnapshot("ns/gw"), before);
});

test("piecewise-encoded resources (virtual hosts, filter chains, endpoints) decode to what was compiled", async () => {
  const { goldenCases } = await import("../../golden/cases.js");
  const { envoyJson } = await import("../../../src/envoy/cluster.js");
  const store = new SnapshotStore();
  for (const golden of goldenCases()) {
    if (golden.skip) continue;
    const resources = golden.compile().resources;
    store.setSnapshot(golden.name, resources);
    const snapshot = store.getSnapshot(golden.name)!;
    for (const [type, group] of [["LDS", "listeners"], ["RDS", "routes"], ["EDS", "endpoints"]] as const) {
      for (const resource of resources[group]) {
        const stored = snapshot.types[type].get(resource.name)!;
        const whole = store.codec.encodeAny(envoyJson(resource));
        const type_ = store.codec.typeOfUrl(stored.typeUrl);
        assert.deepEqual(type_.toObject(type_.decode(stored.bytes)), type_.toObject(type_.decode(whole.value)), `${golden.name} ${type} ${resource.name}`);
      }
    }
  }
});

test("compiles with memoised (frozen, reused) objects store the same versions and bytes as fresh copies; nothing cached outlives its snapshots", async () => {
  const { compileGateway } = await import("../../../src/compile/compile.js");
  const { buildSnapshot } = await import("../../../src/model/snapshot.js");
  const { generateInputs } = await import("../../../bench/ads.js");
  const { defaultIngressGatewayProxy } = await import("../../../src/model/proxy.js");
  const proxy = { ...defaultIngressGatewayProxy, labels: { istio: "ingressgateway" } };
  const inputs = generateInputs(30);
  const store = new SnapshotStore();
  const steps: ((current: typeof inputs) => void)[] = [
    () => {},
    (current) => void (current.virtualServices = current.virtualServices!.slice(0, -1)),
    (current) => void (current.services = current.services!.map((service, i) => (i === 3 ? { metadata: { name: "svc-3", namespace: "bench" }, spec: { ports: [{ name: "http", port: 81 }] } } : service))),
    (current) => void (current.virtualServices = [...current.virtualServices!, structuredClone(current.virtualServices![0]!)]),
    (current) => void (current.endpointSlices = current.endpointSlices!.filter((_, i) => i !== 5)),
  ];
  for (const [index, step] of [...steps, ...steps].entries()) {
    step(inputs);
    const resources = compileGateway(buildSnapshot(inputs), proxy).resources;
    if (index === 6) {
      // A failed setSnapshot in between must not disturb what is cached for the stored one.
      const bad = { ...resources, clusters: [...resources.clusters, { "@type": typeUrl.cluster, name: "zz", not_a_field: true }] };
      const before = store.cacheSizes();
      assert.throws(() => store.setSnapshot("ns/gw", bad));
      assert.deepEqual(store.cacheSizes(), before, "the failed snapshot's references are undone, the stored one's kept");
    }
    store.setSnapshot("ns/gw", resources);
    const fresh = new SnapshotStore(store.codec);
    fresh.setSnapshot("ns/gw", structuredClone(resources));
    const stored = store.getSnapshot("ns/gw")!;
    const expected = fresh.getSnapshot("ns/gw")!;
    assert.deepEqual(stored.versions, expected.versions, `step ${index}`);
    for (const [type, map] of Object.entries(expected.types) as [keyof typeof expected.types, (typeof expected.types)["LDS"]][]) {
      assert.deepEqual([...stored.types[type].keys()], [...map.keys()], `step ${index} ${type}`);
      for (const [name, resource] of map) assert.ok(Buffer.from(stored.types[type].get(name)!.bytes).equals(resource.bytes), `step ${index} ${type} ${name}`);
    }
  }
  assert.ok(store.cacheSizes().pieces > 0);
  store.deleteSnapshot("ns/gw");
  assert.deepEqual(store.cacheSizes(), { resources: 0, pieces: 0 }, "every cached encoding is released with the last snapshot using it");
});
