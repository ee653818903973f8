import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import type { Gateway, VirtualService } from "../../../src/model/istio.js";
import { compileGateway } from "../../../src/compile/compile.js";
import type { Service } from "../../../src/model/kube.js";
import { computeStatuses } from "../../../src/controllers/status.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import type { DesiredStatus } from "../../../src/controllers/status.js";
import { StatusWriter } from "../../../src/controllers/status-writer.js";
import type { StatusApi } from "../../../src/controllers/status-writer.js";
import { KubeApiError } from "../../../src/sources/kube/rest.js";
import type { KubeObject } from "../../../src/sources/kube/rest.js";

const gateway = { apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name: "gw", namespace: "shop", generation: 3 }, spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] } } as unknown as Gateway;
const vs = { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "vs", namespace: "shop", generation: 2 }, spec: { hosts: ["a.example"], gateways: ["gw"], http: [{ route: [{ destination: { host: "webap" } }] }] } } as unknown as VirtualService;

describe("computeStatuses", () => {
  test("no proxy: Gateway not Accepted (NoMatchingProxy); VS bound but not Programmed", () => {
    const statuses = computeStatuses(buildSnapshot({ gateways: [gateway], virtualServices: [vs] }), []);
    const gw = statuses.find((s) => s.kind === "Gateway");
    assert.deepEqual(gw?.conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration]), [
      ["Accepted", "False", "NoMatchingProxy", 3],
      ["ResolvedRefs", "True", "ResolvedRefs", 3],
      ["Programmed", "False", "NoMatchingProxy", 3],
    ]);
    const v = statuses.find((s) => s.kind === "VirtualService");
    assert.equal(v?.conditions[0]?.status, "True");
    assert.equal(v?.conditions[2]?.reason, "NoMatchingProxy");
  });

  test("a Gateway applied after its proxy's last compile: no status yet (not NoMatchingProxy); after the compile, Accepted; a Gateway no known proxy selects: NoMatchingProxy at once", () => {
    const snapshot = buildSnapshot({ gateways: [gateway], virtualServices: [vs] });
    const older = { proxy: "istio-system/istio-ingressgateway", gateways: [], diagnostics: [], clusterHosts: new Set<string>() };
    const pending = computeStatuses(snapshot, [older], [], [], [], [defaultIngressGatewayProxy]);
    assert.deepEqual(pending.filter((s) => s.kind !== "DestinationRule").map((s) => s.kind), [], "neither the Gateway nor the VirtualService bound only through it");
    const compiled = computeStatuses(snapshot, [{ ...older, gateways: ["shop/gw"] }], [], [], [], [defaultIngressGatewayProxy]);
    assert.equal(compiled.find((s) => s.kind === "Gateway")?.conditions[0]?.reason, "Accepted");
    const elsewhere = { ...defaultIngressGatewayProxy, labels: { istio: "other" } };
    const unmatched = computeStatuses(snapshot, [older], [], [], [], [elsewhere]);
    assert.equal(unmatched.find((s) => s.kind === "Gateway")?.conditions[0]?.reason, "NoMatchingProxy");
  });

  test("Envoy NACKs over ADS: Programmed=False (ProxyRejected) with Envoy's message while every proxy rejects; True when one accepts", () => {
    const proxy = (name: string, rejected: { type: string; message: string }[]) => ({ proxy: `istio-system/${name}`, gateways: ["shop/gw"], diagnostics: [], clusterHosts: new Set<string>(), rejected });
    const nack = { type: "RDS", message: "regex exceeds max program size" };
    const programmed = (outcomes: ReturnType<typeof proxy>[]) =>
      computeStatuses(buildSnapshot({ gateways: [gateway], virtualServices: [] }), outcomes).find((s) => s.kind === "Gateway")?.conditions.find((c) => c.type === "Programmed");
    const rejected = programmed([proxy("a", [nack])]);
    assert.equal(rejected?.status, "False");
    assert.equal(rejected?.reason, "ProxyRejected");
    assert.match(rejected?.message ?? "", /istio-system\/a RDS: regex exceeds max program size/);
    assert.equal(programmed([proxy("a", [nack]), proxy("b", [])])?.status, "True", "one proxy serving it is enough, as with publishing");
    assert.equal(programmed([proxy("a", [])])?.reason, "Programmed");
  });

  test("a missing destination Service: BackendNotFound with a near-miss hint; refusal: PublishRefused", () => {
    const statuses = computeStatuses(
      buildSnapshot({ gateways: [gateway], virtualServices: [vs] }),
      [
        {
          proxy: "istio-system/istio-ingressgateway",
          gateways: ["shop/gw"],
          diagnostics: [{ severity: "warning", kind: "VirtualService", namespace: "shop", name: "vs", field: "spec.http[0].route[0].destination.host", message: "service webap.shop.svc.cluster.local not found; requests routed to it get 503" }],
          clusterHosts: new Set(),
          refusal: "TooLarge: too big",
        },
      ],
      [],
      [{ metadata: { name: "webapp", namespace: "shop" } }],
    );
    const v = statuses.find((s) => s.kind === "VirtualService");
    const refs = v?.conditions.find((c) => c.type === "ResolvedRefs");
    assert.equal(refs?.reason, "BackendNotFound");
    assert.match(refs?.message ?? "", /destination host 'webap' has no Service in namespace shop \(did you mean 'webapp'\?\)/);
    assert.equal(v?.conditions.find((c) => c.type === "Programmed")?.reason, "PublishRefused");
  });

  // Found by test/fixtures/hostile (references.yaml): a subset no DestinationRule defines 503s,
  // and the VirtualService said ResolvedRefs=True.
  test("a destination subset no DestinationRule defines: the compiler warns on the VirtualService, ResolvedRefs=False BackendNotFound", () => {
    const service = { apiVersion: "v1", kind: "Service", metadata: { name: "webapp", namespace: "shop" }, spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] } } as unknown as Service;
    const subsetVs = { ...vs, spec: { hosts: ["a.example"], gateways: ["gw"], http: [{ route: [{ destination: { host: "webapp", subset: "v9" } }] }] } } as unknown as VirtualService;
    const snapshot = buildSnapshot({ gateways: [gateway], virtualServices: [subsetVs], services: [service] });
    const proxy = { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [] };
    const { diagnostics } = compileGateway(snapshot, proxy);
    const warning = diagnostics.find((d) => d.kind === "VirtualService" && d.field === "spec.http[0].route[0].destination.subset");
    assert.match(warning?.message ?? "", /subset v9 of service webapp\.shop\.svc\.cluster\.local not found/);
    const statuses = computeStatuses(snapshot, [{ proxy: "istio-system/istio-ingressgateway", gateways: ["shop/gw"], diagnostics, clusterHosts: new Set() }], [], [{ metadata: { name: "webapp", namespace: "shop" } }]);
    const refs = statuses.find((s) => s.kind === "VirtualService")?.conditions.find((c) => c.type === "ResolvedRefs");
    assert.equal(refs?.reason, "BackendNotFound");
    assert.match(refs?.message ?? "", /destination\.subset: subset v9 .* no DestinationRule for the host defines it/);
  });
});

class FakeApi implements StatusApi {
  object: KubeObject = { metadata: { generation: 1, resourceVersion: "1" }, status: { conditions: [{ type: "Other", status: "True" }] } };
  patches: unknown[] = [];
  conflicts = 0;
  async get<T extends KubeObject>(): Promise<T | undefined> {
    return structuredClone(this.object) as T;
  }
  async patchMerge<T extends KubeObject>(_path: string, body: unknown): Promise<T> {
    if (this.conflicts > 0) {
      this.conflicts--;
      throw new KubeApiError("PATCH", "/x", 409, "Conflict", "the object has been modified");
    }
    this.patches.push(body);
    this.object = { ...this.object, status: (body as { status: unknown }).status };
    return this.object as T;
  }
}

const desired = (message: string): DesiredStatus => ({
  kind: "Gateway",
  namespace: "shop",
  name: "gw",
  generation: 1,
  conditions: [{ type: "Accepted", status: "True", reason: "Accepted", message, observedGeneration: 1 }],
});

describe("StatusWriter", () => {
  test("writes once, keeps others' conditions, skips no-ops, keeps lastTransitionTime while status holds, retries conflicts", async () => {
    const api = new FakeApi();
    let clock = Date.parse("2026-01-01T00:00:00Z");
    const writer = new StatusWriter(api, () => new Date(clock));
    assert.equal((await writer.sync([desired("a")])).written.length, 1);
    assert.equal((await writer.sync([desired("a")])).written.length, 0, "cached: no request");
    const conditions = () => (api.object.status as { conditions: { type: string; lastTransitionTime?: string; message?: string }[] }).conditions;
    assert.deepEqual(conditions().map((c) => c.type), ["Other", "Accepted"]);
    clock += 60_000;
    api.conflicts = 2;
    assert.equal((await writer.sync([desired("b")])).written.length, 1);
    assert.equal(conditions()[1]?.message, "b");
    assert.equal(conditions()[1]?.lastTransitionTime, "2026-01-01T00:00:00Z", "same status: transition time kept");
    assert.equal(api.patches.length, 2);
  });

  test("a status computed for an older generation is not written", async () => {
    const api = new FakeApi();
    api.object = { metadata: { generation: 2, resourceVersion: "5" } };
    const writer = new StatusWriter(api);
    assert.equal((await writer.sync([desired("a")])).written.length, 0);
    assert.equal(api.patches.length, 0);
  });
});
