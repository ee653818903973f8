import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { desiredObject, writeOrder } from "../../../src/publish/plan.js";
import type { ObjectGroup, PublishPlan } from "../../../src/publish/plan.js";
import { Publisher } from "../../../src/publish/publisher.js";
import type { PublishApi } from "../../../src/publish/publisher.js";

const proxy = { namespace: "istio-system", name: "gw", uid: "u1" };

/** An apiserver that stores what is applied (Secrets base64, like the real one). */
class MemoryApi implements PublishApi {
  readonly objects = new Map<string, Record<string, unknown>>();
  readonly calls: string[] = [];
  async get(path: string): Promise<Record<string, unknown> | undefined> {
    this.calls.push(`GET ${path.split("/").pop()}`);
    return this.objects.get(path);
  }
  async apply(path: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.calls.push(`APPLY ${path.split("/").pop()} ${Object.keys((body.data ?? {}) as object).join(",")}`);
    this.objects.set(path, body);
    return body;
  }
}

function plan(data: Partial<Record<ObjectGroup, Record<string, string>>>, fileSubscriptions = 2): PublishPlan {
  return { objects: writeOrder.map((group) => desiredObject(proxy, group, data[group] ?? {})), fileSubscriptions };
}

describe("Publisher", () => {
  test("first publish writes all five in order; the same plan again writes nothing", async () => {
    const api = new MemoryApi();
    const publisher = new Publisher(api);
    const first = await publisher.publish(plan({ lds: { "lds.yaml": "l" }, cds: { "cds.yaml": "c" } }), proxy);
    assert.deepEqual(first.writes.map((write) => write.group), ["eds", "rds", "sds", "cds", "lds"]);
    api.calls.length = 0;
    const again = await publisher.publish(plan({ lds: { "lds.yaml": "l" }, cds: { "cds.yaml": "c" } }), proxy);
    assert.deepEqual(again.writes, []);
    assert.deepEqual(api.calls, [], "no GET either: the publisher remembers what it wrote");
  });

  test("a fresh publisher (restart) reads the published hashes and writes nothing when nothing changed", async () => {
    const api = new MemoryApi();
    await new Publisher(api).publish(plan({ sds: { "sds.a.yaml": "-----BEGIN PRIVATE KEY-----" } }), proxy);
    api.calls.length = 0;
    const outcome = await new Publisher(api).publish(plan({ sds: { "sds.a.yaml": "-----BEGIN PRIVATE KEY-----" } }), proxy);
    assert.deepEqual(outcome.writes, []);
    assert.equal(api.calls.filter((call) => call.startsWith("APPLY")).length, 0);
  });

  test("a removed file is staged with the new ones, CDS/LDS written, then pruned", async () => {
    const api = new MemoryApi();
    const publisher = new Publisher(api);
    await publisher.publish(plan({ eds: { "eds.a.yaml": "a", "eds.b.yaml": "b" }, cds: { "cds.yaml": "a,b" } }), proxy);
    api.calls.length = 0;
    const outcome = await publisher.publish(plan({ eds: { "eds.a.yaml": "a2" }, cds: { "cds.yaml": "a" } }), proxy);
    assert.deepEqual(api.calls, ["APPLY pilotfish-gw-eds eds.a.yaml,eds.b.yaml", "APPLY pilotfish-gw-cds cds.yaml", "APPLY pilotfish-gw-eds eds.a.yaml"]);
    assert.deepEqual(outcome.writes.map((write) => `${write.group}:${write.step}`), ["eds:staged", "cds:written", "eds:pruned"]);
    const staged = api.objects.get("/api/v1/namespaces/istio-system/configmaps/pilotfish-gw-eds") as { data: Record<string, string> };
    assert.deepEqual(staged.data, { "eds.a.yaml": "a2" }, "final content after the prune");
  });

  test("only changed objects are written: an endpoint change touches -eds alone", async () => {
    const api = new MemoryApi();
    const publisher = new Publisher(api);
    const base = { eds: { "eds.a.yaml": "1 endpoint" }, rds: { "rds.r.yaml": "r" }, cds: { "cds.yaml": "c" }, lds: { "lds.yaml": "l" } };
    await publisher.publish(plan(base, 4), proxy);
    const outcome = await publisher.publish(plan({ ...base, eds: { "eds.a.yaml": "2 endpoints" } }, 4), proxy);
    assert.deepEqual(outcome.writes.map((write) => write.group), ["eds"]);
    assert.deepEqual(outcome.unchanged, ["rds", "sds", "cds", "lds"]);
  });

  test("Secret values are stored base64; a failed write rejects (the queue retries it with back-off)", async () => {
    const api = new MemoryApi();
    const publisher = new Publisher(api);
    await publisher.publish(plan({ sds: { "sds.a.yaml": "secret" } }), proxy);
    const secret = api.objects.get("/api/v1/namespaces/istio-system/secrets/pilotfish-gw-sds") as { type: string; data: Record<string, string> };
    assert.equal(secret.type, "Opaque");
    assert.equal(secret.data["sds.a.yaml"], Buffer.from("secret").toString("base64"));
    const failing: PublishApi = { get: (path) => api.get(path), apply: async () => Promise.reject(new Error("conflict")) };
    await assert.rejects(new Publisher(failing).publish(plan({ sds: { "sds.a.yaml": "rotated" } }), proxy), /conflict/);
  });

  test("a re-created Deployment (same name, new uid) gets its objects re-applied with the new owner", async () => {
    const api = new MemoryApi();
    await new Publisher(api).publish(plan({ lds: { "lds.yaml": "l" } }), proxy);
    const recreated = { ...proxy, uid: "u2" };
    const outcome = await new Publisher(api).publish(plan({ lds: { "lds.yaml": "l" } }), recreated);
    assert.equal(outcome.writes.length, 5);
    const lds = api.objects.get("/api/v1/namespaces/istio-system/configmaps/pilotfish-gw-lds") as { metadata: { ownerReferences: { uid: string }[] } };
    assert.equal(lds.metadata.ownerReferences[0]?.uid, "u2");
  });
});
