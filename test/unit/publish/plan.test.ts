import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { goldenCases } from "../../golden/cases.js";
import type { EnvoyResources } from "../../../src/envoy/resources.js";
import { consistencyProblems } from "../../../src/publish/consistency.js";
import { contentHash, fileSubscriptions, groupOfFile, objectManifest, planPublish, writeOrder } from "../../../src/publish/plan.js";
import type { PublishPlan } from "../../../src/publish/plan.js";
import { gatewayBootstrap, gatewayBootstrapYaml } from "../../../src/publish/bootstrap.js";

const proxy = { namespace: "istio-system", name: "istio-ingressgateway", uid: "0000-1111" };
const options = { configDir: "/etc/pilotfish/proxy", bootstrapYaml: "bootstrap: {}\n", maxFileSubscriptions: 32 };

function compiled(name: string): EnvoyResources {
  const found = goldenCases().find((candidate) => candidate.name === name);
  assert.ok(found, `golden case ${name}`);
  return found.compile().resources;
}

function planOf(resources: EnvoyResources, maxFileSubscriptions = 32): PublishPlan {
  const result = planPublish(resources, proxy, { ...options, maxFileSubscriptions });
  assert.ok(result.ok, result.ok ? "" : result.message);
  return result.plan;
}

describe("publish plan", () => {
  const tlsCase = goldenCases().find((candidate) => candidate.name === "tls-fixtures" || candidate.name === "tls-options");

  test("five objects in write order, keys are the file layout's names plus the bootstrap", () => {
    const plan = planOf(compiled("http-match"));
    assert.deepEqual(plan.objects.map((object) => object.group), [...writeOrder]);
    assert.deepEqual(plan.objects.map((object) => object.name), writeOrder.map((group) => `pilotfish-istio-ingressgateway-${group}`));
    const byGroup = new Map(plan.objects.map((object) => [object.group, object]));
    assert.deepEqual(Object.keys(byGroup.get("lds")?.data ?? {}), ["envoy.yaml", "lds.yaml"]);
    assert.deepEqual(Object.keys(byGroup.get("cds")?.data ?? {}), ["cds.yaml"]);
    for (const object of plan.objects) {
      for (const key of Object.keys(object.data)) {
        assert.match(key, /^[-._a-zA-Z0-9]+$/);
        assert.equal(groupOfFile(key), object.group);
      }
    }
    assert.equal(byGroup.get("sds")?.kind, "Secret");
    assert.equal(byGroup.get("eds")?.kind, "ConfigMap");
  });

  test("empty groups still get an object, so the projected volume always mounts", () => {
    const plan = planOf({ listeners: [], routes: [], clusters: [], endpoints: [], secrets: [] });
    assert.equal(plan.objects.length, 5);
    assert.deepEqual(plan.objects.find((object) => object.group === "rds")?.data, {});
    assert.equal(plan.fileSubscriptions, 2);
  });

  test("deterministic: same resources, same bytes and hashes", () => {
    const a = planOf(compiled("http-match"));
    const b = planOf(compiled("http-match"));
    assert.deepEqual(a, b);
    assert.equal(contentHash({ b: "2", a: "1" }), contentHash({ a: "1", b: "2" }));
    assert.notEqual(contentHash({ a: "1" }), contentHash({ a: "2" }));
  });

  test("TLS private keys only in the Secret, base64-encoded there", { skip: tlsCase?.skip || !tlsCase }, () => {
    assert.ok(tlsCase);
    const plan = planOf(tlsCase.compile().resources);
    const sds = plan.objects.find((object) => object.group === "sds");
    assert.ok(sds && Object.keys(sds.data).length > 0);
    for (const object of plan.objects) {
      const text = JSON.stringify(object.data);
      if (object.kind === "ConfigMap") assert.ok(!text.includes("PRIVATE KEY"), `${object.name} holds no private key`);
    }
    assert.ok(JSON.stringify(sds.data).includes("PRIVATE KEY"));
    const manifest = objectManifest(sds, proxy, plan.fileSubscriptions);
    assert.equal(manifest.type, "Opaque");
    assert.ok(!JSON.stringify(manifest).includes("PRIVATE KEY"));
  });

  test("labels, annotations and the Deployment as controlling owner", () => {
    const plan = planOf(compiled("http-match"));
    const lds = plan.objects.find((object) => object.group === "lds");
    assert.ok(lds);
    const manifest = objectManifest(lds, proxy, plan.fileSubscriptions) as { metadata: Record<string, unknown> };
    assert.deepEqual(manifest.metadata.labels, { "app.kubernetes.io/managed-by": "pilotfish", "pilotfish.io/proxy": "istio-ingressgateway" });
    assert.deepEqual(manifest.metadata.annotations, { "pilotfish.io/config-hash": lds.hash, "pilotfish.io/file-subscriptions": String(plan.fileSubscriptions) });
    const rds = plan.objects.find((object) => object.group === "rds");
    assert.ok(rds);
    const rdsManifest = objectManifest(rds, proxy, plan.fileSubscriptions) as { metadata: Record<string, unknown> };
    assert.deepEqual(rdsManifest.metadata.annotations, { "pilotfish.io/config-hash": rds.hash }, "the count only on -lds");
    assert.deepEqual(manifest.metadata.ownerReferences, [
      { apiVersion: "apps/v1", kind: "Deployment", name: "istio-ingressgateway", uid: "0000-1111", controller: true, blockOwnerDeletion: false },
    ]);
  });

  test("subscriptions: LDS + CDS + one per RDS/EDS/SDS file; above the budget the plan is refused", () => {
    const resources = compiled("http-match");
    const count = fileSubscriptions(resources);
    assert.equal(count, 2 + resources.routes.length + resources.endpoints.length + resources.secrets.length);
    assert.equal(planOf(resources, count).fileSubscriptions, count);
    const refused = planPublish(resources, proxy, { ...options, maxFileSubscriptions: count - 1 });
    assert.equal(refused.ok, false);
    assert.equal(refused.ok ? "" : refused.reason, "OverSubscriptionBudget");
    assert.match(refused.ok ? "" : refused.message, /ADS/);
  });

  test("an object over 1 MiB refuses the whole plan", () => {
    const resources = compiled("http-match");
    const route = resources.routes[0];
    assert.ok(route);
    const huge = { ...resources, routes: [{ ...route, virtual_hosts: [{ name: "big", domains: ["x".repeat(1_100_000)], routes: [] }] }] };
    const refused = planPublish(huge, proxy, options);
    assert.equal(refused.ok ? "" : refused.reason, "TooLarge");
    assert.match(refused.ok ? "" : refused.message, /pilotfish-istio-ingressgateway-rds would hold \d+ bytes/);
  });

  test("consistency: a missing route config, cluster load assignment or secret refuses the plan", () => {
    const resources = compiled("http-match");
    assert.deepEqual(consistencyProblems(resources), []);
    const noRoutes = { ...resources, routes: [] };
    assert.match(consistencyProblems(noRoutes)[0] ?? "", /^route configuration http\.8080 is referenced but not compiled$/);
    const noEndpoints = { ...resources, endpoints: resources.endpoints.slice(1) };
    assert.match(consistencyProblems(noEndpoints)[0] ?? "", /^cluster load assignment outbound\|/);
    const refused = planPublish(noRoutes, proxy, options);
    assert.equal(refused.ok ? "" : refused.reason, "Inconsistent");
  });

  test("every golden case compiles to a consistent publish plan", () => {
    for (const golden of goldenCases()) {
      if (golden.skip) continue;
      const resources = golden.compile().resources;
      assert.deepEqual(consistencyProblems(resources), [], golden.name);
    }
  });
});

describe("gateway bootstrap", () => {
  test("reads the layout through kubelet's ..data link, watches the config dir, serves readiness on the status port", () => {
    const bootstrap = gatewayBootstrap({ configDir: "/etc/pilotfish/proxy", adminPort: 15000, statusPort: 15021, proxyName: "gw", proxyNamespace: "ns" });
    const text = JSON.stringify(bootstrap);
    assert.ok(text.includes('"path":"/etc/pilotfish/proxy/..data/lds.yaml"'));
    assert.ok(text.includes('"path":"/etc/pilotfish/proxy/..data/cds.yaml"'));
    assert.ok(text.includes('"watched_directory":{"path":"/etc/pilotfish/proxy"}'));
    assert.ok(text.includes('"path":"/healthz/ready"'));
    assert.ok(text.includes('"prefix_rewrite":"/ready"'));
    assert.ok(text.includes('"port_value":15021'));
    assert.deepEqual((bootstrap.admin as { address: unknown }).address, { socket_address: { address: "127.0.0.1", port_value: 15000 } });
    assert.equal(gatewayBootstrapYaml({ configDir: "/d", adminPort: 1, statusPort: 2, proxyName: "gw", proxyNamespace: "ns" }), gatewayBootstrapYaml({ configDir: "/d", adminPort: 1, statusPort: 2, proxyName: "gw", proxyNamespace: "ns" }));
  });
});
