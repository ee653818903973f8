import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { startHttpbin } from "../../support/upstreams/index.js";
import type { Httpbin } from "../../support/upstreams/index.js";
import { httpRequest, waitFor } from "../../support/net.js";
import { printEnvoyLogOnFailure } from "../../support/envoy.js";
import { labPath, labsSkip } from "../../support/labs.js";
import { serviceManifest, startCompiledGateway } from "./compiled-gateway.js";
import type { CompiledGateway } from "./compiled-gateway.js";

const lab = (path: string): string => readFileSync(labPath(path), "utf8");

describe("L1/L2: coolstore gateway with real traffic", { skip: labsSkip() }, () => {
  let gateway: CompiledGateway | undefined;
  let webapp: Httpbin | undefined;
  let webapp2: Httpbin | undefined;
  printEnvoyLogOnFailure(() => [gateway?.envoy]);
  after(async () => {
    await gateway?.stop();
    await webapp?.close();
    await webapp2?.close();
  });

  test("L1: the Gateway alone answers 404 from the blackhole virtual host", async () => {
    gateway = await startCompiledGateway({ name: "l1", namespace: "istioinaction", manifests: [lab("ch4/coolstore-gw.yaml")] });
    const response = await httpRequest({ url: gateway.url(80, "/api/catalog"), headers: { host: "webapp.istioinaction.io" } });
    assert.equal(response.status, 404);
    assert.equal(gateway.result.resources.routes[0]?.name, `http.${gateway.port(80)}`);
  });

  test("L2: Host webapp.istioinaction.io reaches the upstream; localhost gets 404; a 2nd endpoint changes only EDS", async () => {
    assert.ok(gateway);
    webapp = await startHttpbin({ host: "127.0.0.21", name: "webapp" });
    const base = [lab("ch4/coolstore-gw.yaml"), lab("ch4/coolstore-vs.yaml")];
    const changed = await gateway.update([...base, serviceManifest("webapp", "istioinaction", 80, [webapp])]);
    assert.ok(changed.includes("lds.yaml") === false, `listeners unchanged by adding routes: ${changed.join(", ")}`);
    const ok = await waitFor(async () => {
      const response = await httpRequest({ url: gateway!.url(80, "/api/catalog"), headers: { host: "webapp.istioinaction.io" } });
      return response.status === 200 ? response : undefined;
    }, { timeoutMs: 15_000 });
    assert.equal(ok.headers["x-upstream"], "webapp");
    assert.ok(webapp.hits("/api/catalog") >= 1);
    const other = await httpRequest({ url: gateway.url(80, "/api/catalog"), headers: { host: "localhost" } });
    assert.equal(other.status, 404);

    webapp2 = await startHttpbin({ host: "127.0.0.22", name: "webapp", port: webapp.port });
    const scaled = await gateway.update([...base, serviceManifest("webapp", "istioinaction", 80, [webapp, webapp2])]);
    assert.deepEqual(scaled, ["eds.outbound_7c80_7c_7cwebapp.istioinaction.svc.cluster.local.yaml"]);
    await waitFor(async () => {
      await httpRequest({ url: gateway!.url(80, "/api/catalog"), headers: { host: "webapp.istioinaction.io" } });
      return webapp2!.hits("/api/catalog") > 0 ? true : undefined;
    }, { timeoutMs: 15_000 });
  });
});

// Seed 001's manifests (the seed is prose, not a lab file).
const l10Manifests = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: test-gateway }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: nginx-service }
spec:
  hosts: [www.ssoon.dev]
  gateways: [test-gateway]
  http:
  - route:
    - destination: { host: svc-clusterip, port: { number: 80 } }
`;

describe("L10: wildcard Gateway, one domain, access log", () => {
  let gateway: CompiledGateway | undefined;
  let web: Httpbin | undefined;
  printEnvoyLogOnFailure(() => [gateway?.envoy]);
  after(async () => {
    await gateway?.stop();
    await web?.close();
  });
  before(async () => {
    web = await startHttpbin({ host: "127.0.0.31", name: "websrv" });
    gateway = await startCompiledGateway({
      name: "l10",
      // The seeds' mesh config turns access logs on (Istio's default is off).
      compileOptions: { defaultRetryOn503: false, mesh: { accessLogFile: "/dev/stdout" } },
      manifests: [l10Manifests, serviceManifest("svc-clusterip", "default", 80, [web])],
    });
  });

  test("200 from the upstream and an access log line in Istio's format", async () => {
    const response = await httpRequest({ url: gateway!.url(80, "/"), headers: { host: "www.ssoon.dev", "user-agent": "curl/7.81.0" } });
    assert.equal(response.status, 200);
    const line = await waitFor(() => gateway!.envoy.log().split("\n").find((l) => l.includes('"GET / HTTP/1.1" 200')), { timeoutMs: 15_000 });
    const listenerPort = gateway!.port(80);
    const pattern = new RegExp(
      String.raw`^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] "GET / HTTP/1\.1" 200 - via_upstream - "-" 0 \d+ \d+ \d+ "([^"]*)" "curl/7\.81\.0" "[0-9a-f-]+" ` +
        String.raw`"www\.ssoon\.dev" "127\.0\.0\.31:\d+" outbound\|80\|\|svc-clusterip\.default\.svc\.cluster\.local ` +
        String.raw`127\.0\.0\.1:\d+ 127\.0\.0\.1:${listenerPort} 127\.0\.0\.1:\d+ - -$`,
    );
    const match = pattern.exec(line);
    assert.ok(match, line);
    // use_remote_address (as Istio sets it on gateways) appends the peer to x-forwarded-for, but
    // Envoy appends its own host address instead when the peer is loopback (conn_manager_utility).
    assert.equal(match[1], envoyLocalAddress(), line);
  });

  test("a client's x-forwarded-for is kept and the gateway appends to it (no trusted hops)", async () => {
    const response = await httpRequest({ url: gateway!.url(80, "/xff"), headers: { host: "www.ssoon.dev", "x-forwarded-for": "203.0.113.7" } });
    assert.equal(response.status, 200);
    // Checked at the upstream: the access log reaches stdout only at Envoy's file flush interval.
    const seen = web!.requests.find((request) => request.path === "/xff");
    assert.equal(seen?.headers["x-forwarded-for"], `203.0.113.7,${envoyLocalAddress()}`);
    // The real downstream address: Envoy 1.40 treats no peer as internal unless the HCM lists
    // internal_address_config (Istio's gateways do not), so the edge names its loopback client.
    assert.equal(seen?.headers["x-envoy-external-address"], "127.0.0.1");
  });
});

/**
 * The address Envoy writes into x-forwarded-for for a loopback peer: the host's first non-loopback
 * IPv4 address (Envoy's local address), or loopback on a host that has none.
 */
function envoyLocalAddress(): string {
  const external = Object.values(networkInterfaces())
    .flat()
    .filter((address) => address !== undefined && address.family === "IPv4" && !address.internal);
  return external[0]?.address ?? "127.0.0.1";
}
