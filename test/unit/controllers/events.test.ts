import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EventRecorder } from "../../../src/controllers/events.js";
import type { EventApi } from "../../../src/controllers/events.js";

class FakeApi implements EventApi {
  created: { path: string; body: Record<string, unknown> }[] = [];
  patched: { path: string; body: unknown }[] = [];
  async create(path: string, body: Record<string, unknown>): Promise<unknown> {
    this.created.push({ path, body });
    return { metadata: { name: `ev-${this.created.length}` } };
  }
  async patchMerge(path: string, body: unknown): Promise<unknown> {
    this.patched.push({ path, body });
    return {};
  }
}

describe("EventRecorder (events.k8s.io/v1)", () => {
  test("one Event per problem; a recurrence patches its series; a new message creates a new Event", async () => {
    const api = new FakeApi();
    const recorder = new EventRecorder(api, () => new Date("2026-01-01T00:00:00.123Z"));
    const deployment = { namespace: "istio-system", name: "gw", uid: "u1" };
    assert.equal(await recorder.warn(deployment, "TooLarge", "12 MB"), true);
    assert.equal(await recorder.warn(deployment, "TooLarge", "13 MB"), false, "same reason while it lasts: no flood");
    const body = api.created[0]?.body ?? {};
    assert.equal(api.created[0]?.path, "/apis/events.k8s.io/v1/namespaces/istio-system/events");
    assert.equal(body.apiVersion, "events.k8s.io/v1");
    assert.equal(body.eventTime, "2026-01-01T00:00:00.123000Z");
    assert.equal(body.reportingController, "pilotfish.io/operator");
    assert.deepEqual(body.regarding, { apiVersion: "apps/v1", kind: "Deployment", namespace: "istio-system", name: "gw", uid: "u1" });
    assert.equal(body.note, "12 MB");

    recorder.clear(deployment);
    assert.equal(await recorder.warn(deployment, "TooLarge", "12 MB"), true);
    assert.equal(api.created.length, 1, "the same problem again: the series is patched");
    assert.deepEqual(api.patched[0], { path: "/apis/events.k8s.io/v1/namespaces/istio-system/events/ev-1", body: { series: { count: 2, lastObservedTime: "2026-01-01T00:00:00.123000Z" } } });

    const gateway = { apiVersion: "networking.istio.io/v1", kind: "Gateway", namespace: "shop", name: "g" };
    assert.equal(await recorder.warnOn(gateway, "CredentialExpired", "Secret shop/c expired", "shop/g|c|CredentialExpired"), true);
    assert.equal(await recorder.warnOn(gateway, "CredentialExpired", "Secret shop/c expired", "shop/g|c|CredentialExpired"), false);
    recorder.clearExcept(new Set());
    assert.equal(await recorder.warnOn(gateway, "CredentialExpired", "Secret shop/c expired at another time", "shop/g|c|CredentialExpired"), true);
    assert.equal(api.created.length, 3, "a new message: a new Event");
  });
});
