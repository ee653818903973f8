/**
 * The ADS state machine seen from a scripted client (grpc-js, our codec) on 127.0.0.1: the
 * exchanges Envoy makes only by accident — stale nonces, a NACK followed by the same config,
 * subscription changes in an ACK, Delta unsubscribe and removal, an unidentifiable node.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { emptyResources } from "../../../src/envoy/resources.js";
import type { EnvoyResources } from "../../../src/envoy/resources.js";
import { typeUrl } from "../../../src/envoy/types.js";
import { XdsServer } from "../../../src/xds/server.js";
import { SnapshotStore } from "../../../src/xds/store.js";
import { waitFor } from "../../support/net.js";

type Obj = Record<string, unknown>;
const key = "istio-system/istio-ingressgateway";
const node = { id: "router~127.0.0.1~istio-ingressgateway-5d8f7c9b4-x2kqv.istio-system~istio-system.svc.cluster.local", cluster: "istio-ingressgateway" };

function resources(port: number, clusters = ["a", "b"]): EnvoyResources {
  const r = emptyResources();
  for (const name of clusters) {
    r.clusters.push({ "@type": typeUrl.cluster, name, type: "EDS", eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } } });
    r.endpoints.push({
      "@type": typeUrl.clusterLoadAssignment,
      name,
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }],
    });
  }
  return r;
}

class Stream {
  readonly received: Obj[] = [];
  readonly #call: grpc.ClientDuplexStream<Uint8Array, Buffer>;
  readonly #request;
  readonly #response;
  constructor(client: grpc.Client, store: SnapshotStore, api: "sotw" | "delta") {
    const prefix = api === "sotw" ? "" : "Delta";
    this.#request = store.codec.type(`envoy.service.discovery.v3.${prefix}DiscoveryRequest`);
    this.#response = store.codec.type(`envoy.service.discovery.v3.${prefix}DiscoveryResponse`);
    this.#call = client.makeBidiStreamRequest(
      `/envoy.service.discovery.v3.AggregatedDiscoveryService/${api === "sotw" ? "Stream" : "Delta"}AggregatedResources`,
      (bytes: Uint8Array) => Buffer.from(bytes),
      (bytes: Buffer) => bytes,
    );
    this.#call.on("data", (bytes: Buffer) => this.received.push(this.#response.toObject(this.#response.decode(bytes), { longs: String, defaults: false }) as Obj));
    this.#call.on("error", () => undefined);
  }
  send(request: Obj): void {
    this.#call.write(this.#request.encode(this.#request.fromObject(request)).finish());
  }
  async next(count: number): Promise<Obj> {
    return waitFor(() => this.received[count - 1], { timeoutMs: 10_000, intervalMs: 5, what: `response ${count}` });
  }
  /** Nothing more arrives within a quiet period. */
  async quiet(count: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(this.received.length, count, `no further response (got ${JSON.stringify(this.received.slice(count))})`);
  }
  close(): void {
    this.#call.end();
  }
}

describe("ADS protocol with a scripted client", { timeout: 120_000 }, () => {
  let store: SnapshotStore;
  let server: XdsServer;
  let client: grpc.Client;

  before(async () => {
    store = new SnapshotStore();
    server = new XdsServer({ store, authentication: "none" });
    const bound = await server.listen("127.0.0.1:0");
    client = new grpc.Client(bound, grpc.credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await server?.close();
  });

  test("SotW: wait for a snapshot, stale nonces ignored, NACK recorded and not re-sent, names change answered", async () => {
    const stream = new Stream(client, store, "sotw");
    stream.send({ node, type_url: typeUrl.clusterLoadAssignment, resource_names: ["a"] });
    await stream.quiet(0); // no snapshot yet: nothing
    store.setSnapshot(key, resources(1));
    const first = await stream.next(1);
    assert.equal((first.resources as Obj[]).length, 1, "only the subscribed name");
    stream.send({ type_url: typeUrl.clusterLoadAssignment, resource_names: ["a"], version_info: first.version_info, response_nonce: "stale-nonce" });
    await stream.quiet(1);
    stream.send({ type_url: typeUrl.clusterLoadAssignment, resource_names: ["a"], version_info: first.version_info, response_nonce: first.nonce });
    await stream.quiet(1); // an ACK with the same names: no answer
    const connection = () => server.syncStatus().proxies.find((p) => p.proxy === key)!;
    assert.equal(connection().types.EDS!.status, "SYNCED");

    store.setSnapshot(key, resources(2));
    const second = await stream.next(2);
    assert.notEqual(second.version_info, first.version_info);
    stream.send({ type_url: typeUrl.clusterLoadAssignment, resource_names: ["a"], version_info: first.version_info, response_nonce: second.nonce, error_detail: { code: 3, message: "port 2 is cursed" } });
    await stream.quiet(2);
    assert.equal(connection().types.EDS!.status, "NACKED");
    assert.equal(connection().types.EDS!.error?.message, "port 2 is cursed");
    assert.equal(connection().types.EDS!.versionAcked, first.version_info);
    // The snapshot changes elsewhere ("c" added); this connection's subset is still the rejected version: not sent again.
    assert.deepEqual([...store.setSnapshot(key, resources(2, ["a", "b", "c"]))], ["CDS", "EDS"]);
    await stream.quiet(2);

    stream.send({ type_url: typeUrl.clusterLoadAssignment, resource_names: ["a", "b"], version_info: first.version_info, response_nonce: second.nonce });
    const third = await stream.next(3);
    assert.deepEqual((third.resources as Obj[]).length, 2, "a names change is answered");
    assert.equal(connection().types.EDS!.versionAcked, first.version_info, "the rejected nonce sent again without error_detail is not an ACK");
    stream.close();
  });

  test("Delta: initial_resource_versions, unsubscribe, removed_resources", async () => {
    store.setSnapshot(key, resources(5));
    const aVersion = store.getSnapshot(key)!.types.CDS.get("a")!.version;
    const stream = new Stream(client, store, "delta");
    stream.send({ node, type_url: typeUrl.cluster, initial_resource_versions: { a: aVersion } });
    const first = await stream.next(1);
    assert.deepEqual((first.resources as Obj[]).map((r) => r.name), ["b"], "what Envoy holds is not sent");
    stream.send({ type_url: typeUrl.cluster, response_nonce: first.nonce });
    store.setSnapshot(key, resources(5, ["a"]));
    const second = await stream.next(2);
    assert.deepEqual(second.removed_resources, ["b"]);
    assert.equal(second.resources, undefined);
    stream.send({ type_url: typeUrl.cluster, response_nonce: second.nonce });

    stream.send({ type_url: typeUrl.clusterLoadAssignment, resource_names_subscribe: ["a", "zzz"] });
    const eds = await stream.next(3);
    assert.deepEqual((eds.resources as Obj[]).map((r) => r.name), ["a"]);
    stream.send({ type_url: typeUrl.clusterLoadAssignment, response_nonce: eds.nonce, resource_names_unsubscribe: ["a"] });
    await waitFor(() => JSON.stringify(server.syncStatus().proxies.find((p) => p.api === "delta")?.types.EDS?.names) === '["zzz"]', { timeoutMs: 5000, what: "the unsubscribe processed" });
    store.setSnapshot(key, resources(6, ["a"]));
    await stream.quiet(3); // unsubscribed: the endpoint change is not sent
    stream.close();
  });

  test("a node that cannot be identified gets nothing", async () => {
    const stream = new Stream(client, store, "sotw");
    stream.send({ node: { id: "who-knows" }, type_url: typeUrl.cluster });
    await stream.quiet(0);
    const connection = await waitFor(() => server.syncStatus().proxies.find((p) => p.node === "who-knows"), { timeoutMs: 5000, what: "the connection listed" });
    assert.equal(connection.proxy, undefined);
    stream.close();
  });
});
