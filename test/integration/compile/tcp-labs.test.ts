/**
 * Lab L8 (config side and traffic): a TCP server on 31400 routed by a VirtualService tcp route
 * to the echo service, through a real Envoy; plus weighted TCP destinations.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { dump } from "js-yaml";
import { startTcpEcho } from "../../support/upstreams/index.js";
import type { TcpEcho } from "../../support/upstreams/index.js";
import { tcpExchange, waitFor } from "../../support/net.js";
import { printEnvoyLogOnFailure } from "../../support/envoy.js";
import { labsSkip } from "../../support/labs.js";
import { serviceManifest, startCompiledGateway } from "./compiled-gateway.js";
import type { CompiledGateway } from "./compiled-gateway.js";
import { labMaterial, ownManifests } from "./tls-fixtures.js";

const namespace = "istioinaction";

async function echoThrough(port: number, payload: string): Promise<string> {
  return waitFor(
    async () => {
      try {
        const received = await tcpExchange("127.0.0.1", port, payload, { timeoutMs: 2000 });
        return received.endsWith(payload) ? received : undefined;
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 15_000, what: `an echo through 127.0.0.1:${port}` },
  );
}

for (const [flavour, manifests, skip] of [
  ["labs", () => [labMaterial().manifest("gateway-tcp"), labMaterial().manifest("echo-vs")], labsSkip()],
  ["generated", () => [ownManifests["gateway-tcp"], ownManifests["echo-vs"]], false],
] as const) {
  describe(`L8 with ${flavour} manifests`, { skip }, () => {
    let gateway: CompiledGateway | undefined;
    let echo: TcpEcho | undefined;
    printEnvoyLogOnFailure(() => [gateway?.envoy]);
    after(async () => {
      await gateway?.stop();
      await echo?.close();
    });

    test("a TCP connection to 31400 reaches the echo server and gets its bytes back", async () => {
      echo = await startTcpEcho({ name: "tcp-echo" });
      gateway = await startCompiledGateway({
        name: `l8-${flavour}`,
        namespace,
        serverPorts: [31400],
        manifests: [...manifests(), serviceManifest("tcp-echo-service", namespace, 2701, [echo])],
      });
      assert.deepEqual(gateway.result.diagnostics, []);
      assert.deepEqual(gateway.result.resources.clusters.map((c) => c.name), ["outbound|2701||tcp-echo-service.istioinaction.svc.cluster.local"]);
      const received = await echoThrough(gateway.port(31400), "hello pilotfish\n");
      assert.equal(received, "Welcome, you are connected to node tcp-echo.\r\nhello pilotfish\n");
      assert.ok(echo.connections() >= 1);
    });
  });
}

describe("TCP: weighted destinations and the first matching route", () => {
  let gateway: CompiledGateway | undefined;
  const echoes: TcpEcho[] = [];
  printEnvoyLogOnFailure(() => [gateway?.envoy]);
  after(async () => {
    await gateway?.stop();
    for (const echo of echoes) await echo.close();
  });

  test("50/50 weights spread connections over both services; a non-matching earlier route is passed over", async () => {
    const a = await startTcpEcho({ name: "echo-a" });
    const b = await startTcpEcho({ name: "echo-b" });
    const unused = await startTcpEcho({ name: "echo-unused" });
    echoes.push(a, b, unused);
    const vs = dump({
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "weighted-echo" },
      spec: {
        hosts: ["*"],
        gateways: ["echo-tcp-gateway"],
        tcp: [
          { match: [{ port: 9999 }], route: [{ destination: { host: "echo-unused", port: { number: 2701 } } }] },
          {
            match: [{ port: 31400 }],
            route: [
              { destination: { host: "echo-a", port: { number: 2701 } }, weight: 50 },
              { destination: { host: "echo-b", port: { number: 2701 } }, weight: 50 },
            ],
          },
        ],
      },
    });
    gateway = await startCompiledGateway({
      name: "tcp-weighted",
      namespace,
      serverPorts: [31400],
      manifests: [
        ownManifests["gateway-tcp"],
        vs,
        serviceManifest("echo-a", namespace, 2701, [a]),
        serviceManifest("echo-b", namespace, 2701, [b]),
        serviceManifest("echo-unused", namespace, 2701, [unused]),
      ],
    });
    assert.deepEqual(gateway.result.diagnostics, []);
    await echoThrough(gateway.port(31400), "warm-up\n");
    for (let i = 0; i < 20; i++) await echoThrough(gateway.port(31400), `ping ${i}\n`);
    assert.ok(a.connections() > 0 && b.connections() > 0, `both got connections: a=${a.connections()} b=${b.connections()}`);
    assert.equal(unused.connections(), 0);
  });
});
