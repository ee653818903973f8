import { test } from "node:test";
import assert from "node:assert/strict";
import { XdsServer, grpcAddress } from "../../../src/xds/server.js";
import { SnapshotStore } from "../../../src/xds/store.js";

test("plaintext ADS only on loopback unless asked", async () => {
  const server = new XdsServer({ store: new SnapshotStore(), authentication: "none" });
  await assert.rejects(server.listen(":15010"), /refusing plaintext xDS on :15010: not a loopback address/);
  await assert.rejects(server.listen("198.19.127.1:15010"), /not a loopback address/);
  const bound = await server.listen("127.0.0.1:0");
  assert.match(bound, /^127\.0\.0\.1:\d+$/);
  await server.close();
});

test("no authentication only on loopback, whatever the transport", async () => {
  const server = new XdsServer({ store: new SnapshotStore(), authentication: "none" });
  await assert.rejects(server.listen("198.19.127.1:15010", { plaintext: true }), /refusing xDS without authentication on 198.19.127.1:15010/);
  await assert.rejects(
    server.listen("198.19.127.1:15010", { unauthenticatedOffLoopback: true, tls: { certificatePem: "", privateKeyPem: "" } }),
    /refusing xDS without authentication/,
    "only in plaintext, both asked for",
  );
  await server.close();
});

test("addresses", () => {
  assert.deepEqual(grpcAddress(":15010"), { target: "0.0.0.0:15010", host: "0.0.0.0" });
  assert.deepEqual(grpcAddress("[::1]:0"), { target: "[::1]:0", host: "::1" });
  assert.throws(() => grpcAddress("nope"), /invalid xDS address/);
});
