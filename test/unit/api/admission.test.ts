import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { admissionHandler } from "../../../src/api/admission.js";
import type { AdmissionReview } from "../../../src/api/admission.js";

let server: Server;
let url: string;

before(async () => {
  server = createServer(admissionHandler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/validate`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

// Shaped like what kube-apiserver sends for `kubectl apply` of a Gateway.
function admissionReview(object: unknown, operation = "CREATE"): unknown {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group: "networking.istio.io", version: "v1alpha3", kind: "Gateway" },
      resource: { group: "networking.istio.io", version: "v1alpha3", resource: "gateways" },
      requestKind: { group: "networking.istio.io", version: "v1alpha3", kind: "Gateway" },
      requestResource: { group: "networking.istio.io", version: "v1alpha3", resource: "gateways" },
      name: "coolstore-gateway",
      namespace: "istioinaction",
      operation,
      userInfo: { username: "admin", groups: ["system:authenticated"] },
      object,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
    },
  };
}

async function post(body: unknown): Promise<{ status: number; json: AdmissionReview }> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as AdmissionReview };
}

const gateway = (servers: unknown[]) => ({
  apiVersion: "networking.istio.io/v1alpha3",
  kind: "Gateway",
  metadata: { name: "coolstore-gateway", namespace: "istioinaction" },
  spec: { selector: { istio: "ingressgateway" }, servers },
});

test("a valid Gateway is allowed, uid echoed", async () => {
  const { status, json } = await post(admissionReview(gateway([{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["webapp.istioinaction.io"] }])));
  assert.equal(status, 200);
  assert.deepEqual(json, { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: "705ab4f5-6393-11e8-b7cc-42010a800002", allowed: true } });
});

test("an invalid Gateway is denied with the field path in the message", async () => {
  const { json } = await post(admissionReview(gateway([{ port: { number: 80, name: "http", protocol: "HTTP", targetPort: 8080 }, hosts: ["webapp.istioinaction.io"] }])));
  assert.equal(json.response?.allowed, false);
  assert.equal(json.response?.status?.code, 400);
  assert.match(json.response?.status?.message ?? "", /spec\.servers\[0\]\.port\.targetPort: targetPort is not allowed on a Gateway/);
});

test("warnings are returned and do not deny", async () => {
  const { json } = await post(
    admissionReview(gateway([{ port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["a.com"], tls: { mode: "SIMPLE", credentialName: "c", cipherSuites: ["NOPE"] } }])),
  );
  assert.equal(json.response?.allowed, true);
  assert.deepEqual(json.response?.warnings?.map((w) => w.split(":")[0]), ["spec.servers[0].tls.cipherSuites[0]"]);
});

test("DELETE and foreign kinds are allowed", async () => {
  assert.equal((await post(admissionReview(undefined, "DELETE"))).json.response?.allowed, true);
  assert.equal((await post(admissionReview({ apiVersion: "v1", kind: "Service", metadata: { name: "s" } }))).json.response?.allowed, true);
});

test("malformed requests get 400 / 405", async () => {
  assert.equal((await fetch(url, { method: "POST", body: "not json" })).status, 400);
  assert.equal((await fetch(url, { method: "POST", body: JSON.stringify({ kind: "AdmissionReview" }) })).status, 400);
  assert.equal((await fetch(url)).status, 405);
});
