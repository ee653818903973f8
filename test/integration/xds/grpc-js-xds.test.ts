/**
 * An xDS client nobody here wrote: `@grpc/grpc-js-xds` (gRPC's own xDS resolver and load
 * balancers) resolves `xds:///echo.test` through pilotfish's ADS server (in-process, plaintext
 * loopback) and routes real unary RPCs to local gRPC servers by the LDS → RDS → CDS → EDS chain it
 * is served: the API listener form gRPC expects (an `api_listener` with an HttpConnectionManager,
 * routes by authority, EDS clusters with weighted localities). Then a route change and an endpoint
 * change each redirect the next RPC; a listener gRPC rejects is NACKed with gRPC's message,
 * recorded in the server's sync status, not re-sent, and the previous config keeps routing.
 *
 * The resources are built here with pilotfish's resource shapes, not compiled: gRPC's client
 * accepts a subset of Envoy's config (no addresses, no filter chains). What is under test is the
 * protocol — SotW ADS, named LDS/RDS/CDS/EDS subscriptions, versions, nonces, ACK and NACK —
 * served by the same XdsServer and SnapshotStore the operator and the agent run.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { emptyResources } from "../../../src/envoy/resources.js";
import type { EnvoyResources } from "../../../src/envoy/resources.js";
import { typeUrl } from "../../../src/envoy/types.js";
import { XdsServer } from "../../../src/xds/server.js";
import type { TypeSyncStatus } from "../../../src/xds/server.js";
import { SnapshotStore } from "../../../src/xds/store.js";
import { waitFor } from "../../support/net.js";

const target = "echo.test";
const proxyKey = "default/echo-client";
const node = { id: "sidecar~127.0.0.1~echo-client.default~default.svc.cluster.local", cluster: "echo-client", locality: {}, metadata: { NAMESPACE: "default", WORKLOAD_NAME: "echo-client" } };
const echoMethod = "/pilotfish.test.Echo/Who";
const identity = (bytes: Buffer): Buffer => bytes;

const hcm = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const router = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const ads = { ads: {}, resource_api_version: "V3" };

interface EchoServer {
  name: string;
  port: number;
  server: grpc.Server;
}

/** A gRPC server whose one method answers its own name: which backend an RPC reached. */
async function echoServer(name: string): Promise<EchoServer> {
  const server = new grpc.Server();
  const definition: grpc.ServiceDefinition = {
    Who: { path: echoMethod, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  };
  server.addService(definition, { Who: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(name)) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  return { name, port, server };
}

/** The config gRPC's xDS client expects for `xds:///echo.test`, routing to `cluster`. */
function config(cluster: string, endpoints: Record<string, number>, options: { apiListener?: boolean } = {}): EnvoyResources {
  const resources = emptyResources();
  resources.listeners.push({
    "@type": typeUrl.listener,
    name: target,
    ...(options.apiListener === false
      ? { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } }
      : {
          api_listener: {
            api_listener: {
              "@type": hcm,
              rds: { config_source: ads, route_config_name: "echo-routes" },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": router } }],
            },
          },
        }),
  });
  resources.routes.push({
    "@type": typeUrl.routeConfiguration,
    name: "echo-routes",
    virtual_hosts: [{ name: "echo", domains: [target], routes: [{ match: { prefix: "" }, route: { cluster } }] }],
  });
  for (const [name, port] of Object.entries(endpoints)) {
    resources.clusters.push({ "@type": typeUrl.cluster, name, type: "EDS", eds_cluster_config: { eds_config: ads }, lb_policy: "ROUND_ROBIN" });
    resources.endpoints.push({
      "@type": typeUrl.clusterLoadAssignment,
      name,
      cluster_name: name,
      endpoints: [{ locality: { region: "local" }, load_balancing_weight: 1, lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } }, load_balancing_weight: 1 }] }],
    });
  }
  return resources;
}

describe("@grpc/grpc-js-xds resolves xds:/// through pilotfish's ADS", { timeout: 180_000 }, () => {
  let store: SnapshotStore;
  let server: XdsServer;
  let client: grpc.Client;
  const backends: EchoServer[] = [];

  before(async () => {
    grpcXds.register();
    for (const name of ["a", "b", "c"]) backends.push(await echoServer(name));
    store = new SnapshotStore();
    server = new XdsServer({ store, authentication: "none" });
    const bound = await server.listen("127.0.0.1:0");
    const bootstrap = {
      xds_servers: [{ server_uri: bound, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
      node,
    };
    client = new grpc.Client(`xds:///${target}`, grpc.credentials.createInsecure(), { "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": JSON.stringify(bootstrap) });
  });

  after(async () => {
    client?.close();
    await server?.close();
    for (const backend of backends) backend.server.forceShutdown();
  });

  const port = (name: string): number => backends.find((backend) => backend.name === name)?.port ?? 0;

  async function who(): Promise<string> {
    return new Promise((resolve, reject) =>
      client.makeUnaryRequest(echoMethod, identity, identity, Buffer.from("?"), { deadline: Date.now() + 10_000 }, (error, value) => (error ? reject(error) : resolve(value?.toString() ?? ""))),
    );
  }

  /** The next RPCs reach `name` (routing updates land asynchronously: retried until they do). */
  async function reaches(name: string): Promise<void> {
    let last = "";
    await waitFor(
      async () => {
        try {
          last = await who();
        } catch (error) {
          last = error instanceof Error ? error.message : String(error);
        }
        return last === name ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: `an RPC answered by ${name} (last: ${last})` },
    );
  }

  function grpcTypes(): Record<string, TypeSyncStatus> {
    const connection = server.syncStatus().proxies.find((proxy) => proxy.proxy === proxyKey);
    assert.ok(connection, "gRPC's xDS client is connected and identified by its node");
    return connection.types;
  }

  async function synced(): Promise<Record<string, TypeSyncStatus>> {
    return waitFor(
      () => {
        const types = server.syncStatus().proxies.find((proxy) => proxy.proxy === proxyKey)?.types;
        return types && ["LDS", "RDS", "CDS", "EDS"].every((type) => types[type]?.status === "SYNCED") ? types : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 20, what: "LDS, RDS, CDS and EDS ACKed by gRPC" },
    );
  }

  test("an RPC to xds:///echo.test reaches the backend the served route names; every type is ACKed by name", async () => {
    store.setSnapshot(proxyKey, config("echo-a", { "echo-a": port("a"), "echo-b": port("b") }));
    await reaches("a");
    const types = await synced();
    // gRPC subscribes by name (not wildcard) to exactly what its chain needs.
    assert.deepEqual(types.LDS?.names, [target]);
    assert.deepEqual(types.RDS?.names, ["echo-routes"]);
    assert.deepEqual(types.CDS?.names, ["echo-a"]);
    assert.deepEqual(types.EDS?.names, ["echo-a"]);
    for (const type of ["LDS", "RDS", "CDS", "EDS"]) {
      // A named subscription's version covers the resources sent (a subset of the snapshot's).
      assert.ok(types[type]?.versionSent, `${type}: a version was sent`);
      assert.equal(types[type]?.versionAcked, types[type]?.versionSent, `${type}: gRPC ACKed the version it was sent`);
      assert.equal(types[type]?.nonceAcked, types[type]?.nonceSent, `${type}: with the nonce of that response`);
    }
  });

  test("a route change redirects the next RPC; gRPC subscribes to the new cluster and ACKs", async () => {
    store.setSnapshot(proxyKey, config("echo-b", { "echo-a": port("a"), "echo-b": port("b") }));
    await reaches("b");
    const types = await synced();
    assert.deepEqual(types.CDS?.names, ["echo-b"], "the cluster no route names any more is unsubscribed");
    assert.deepEqual(types.EDS?.names, ["echo-b"]);
  });

  test("an endpoint change (EDS only) redirects the next RPC", async () => {
    const before = grpcTypes();
    const pushesBefore = Object.fromEntries(["LDS", "RDS", "CDS", "EDS"].map((type) => [type, before[type]?.pushes ?? 0]));
    store.setSnapshot(proxyKey, config("echo-b", { "echo-a": port("a"), "echo-b": port("c") }));
    await reaches("c");
    const types = await synced();
    assert.equal(types.EDS?.pushes, (pushesBefore.EDS ?? 0) + 1, "one EDS push");
    for (const type of ["LDS", "RDS", "CDS"]) assert.equal(types[type]?.pushes, pushesBefore[type], `no ${type} push for an endpoint change`);
  });

  test("a listener gRPC rejects is NACKed with gRPC's message, not re-sent, and the last config keeps routing", async (t) => {
    const ackedLds = grpcTypes().LDS?.versionAcked;
    store.setSnapshot(proxyKey, config("echo-b", { "echo-a": port("a"), "echo-b": port("c") }, { apiListener: false }));
    const nacked = await waitFor(() => (grpcTypes().LDS?.status === "NACKED" ? grpcTypes().LDS : undefined), { timeoutMs: 30_000, intervalMs: 20, what: "LDS NACKED" });
    assert.ok(nacked.error?.message, "gRPC's error_detail is recorded");
    t.diagnostic(`gRPC's NACK: ${nacked.error.message}`);
    assert.match(nacked.error.message, /api_listener|Listener/i, nacked.error.message);
    assert.equal(nacked.versionAcked, ackedLds, "the last ACKed version is still the one gRPC runs");
    const pushes = nacked.pushes;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(grpcTypes().LDS?.pushes, pushes, "the NACKed version is not pushed again");
    assert.equal(await who(), "c", "the previous config keeps routing");

    store.setSnapshot(proxyKey, config("echo-a", { "echo-a": port("a"), "echo-b": port("c") }));
    await reaches("a");
    const types = await synced();
    assert.equal(types.LDS?.error, undefined, "the next good version clears the NACK");
  });
});
