import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startHttpbin } from "../../support/upstreams/index.js";
import type { Httpbin } from "../../support/upstreams/index.js";
import { freePort, httpRequest, waitFor } from "../../support/net.js";
import { printEnvoyLogOnFailure } from "../../support/envoy.js";
import { serviceManifest, startCompiledGateway } from "./compiled-gateway.js";
import type { CompiledGateway } from "./compiled-gateway.js";

const manifests = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: shop }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["shop.example.test"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: catalog, namespace: shop }
spec:
  hosts: [shop.example.test]
  gateways: [gw]
  http:
  - route: [{ destination: { host: catalog } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: catalog, namespace: shop }
spec:
  host: catalog
  trafficPolicy:
    loadBalancer: { consistentHash: { httpHeaderName: x-user } }
`;

describe("DestinationRule consistentHash through a real Envoy", () => {
  let gateway: CompiledGateway | undefined;
  const upstreams: Httpbin[] = [];
  printEnvoyLogOnFailure(() => [gateway?.envoy]);

  before(async () => {
    // One EndpointSlice carries one port number, so the four "pods" share it.
    const port = await freePort("127.0.0.51");
    for (const index of [1, 2, 3, 4]) upstreams.push(await startHttpbin({ host: `127.0.0.5${index}`, port, name: `catalog-${index}` }));
    gateway = await startCompiledGateway({ name: "consistent-hash", manifests: [manifests, serviceManifest("catalog", "shop", 80, upstreams)] });
    await waitFor(async () => ((await ask("warm-up")) ? true : undefined), { timeoutMs: 15_000, what: "the gateway to route" });
  });
  after(async () => {
    await gateway?.stop();
    for (const upstream of upstreams) await upstream.close();
  });

  async function ask(user: string): Promise<string | undefined> {
    const response = await httpRequest({ url: gateway!.url(80, "/api/items"), headers: { host: "shop.example.test", "x-user": user } });
    return response.status === 200 ? String(response.headers["x-upstream"]) : undefined;
  }

  test("every request of one user reaches the same upstream; users spread over several", async () => {
    const chosen = new Map<string, Set<string>>();
    for (const user of ["ana", "bo", "chen", "dara", "eli", "fei", "gus", "hana"]) {
      const seen = new Set<string>();
      for (let attempt = 0; attempt < 5; attempt++) seen.add((await ask(user)) ?? "no answer");
      chosen.set(user, seen);
    }
    for (const [user, seen] of chosen) assert.equal(seen.size, 1, `${user} was answered by ${[...seen].join(", ")}`);
    const used = new Set([...chosen.values()].flatMap((seen) => [...seen]));
    assert.ok(used.size >= 2, `eight users all hashed to ${[...used].join(", ")}`);
  });
});
