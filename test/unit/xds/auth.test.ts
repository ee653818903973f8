import { test } from "node:test";
import assert from "node:assert/strict";
import { caRootNamespaces } from "../../../src/controllers/ca-root.js";
import { identityFromReview, tokenExpiry, workloadOfPod } from "../../../src/controllers/xds-auth.js";
import { bearerToken } from "../../../src/xds/auth.js";

test("bearer token from gRPC metadata", () => {
  assert.equal(bearerToken(["Bearer abc.def"]), "abc.def");
  assert.equal(bearerToken(["bearer  abc "]), "abc");
  assert.equal(bearerToken([Buffer.from("Bearer x")]), "x");
  assert.equal(bearerToken(["Basic abc"]), undefined);
  assert.equal(bearerToken([]), undefined);
});

test("identity from a TokenReview status", () => {
  const status = {
    authenticated: true,
    audiences: ["pilotfish"],
    user: {
      username: "system:serviceaccount:istio-system:gateway",
      extra: { "authentication.kubernetes.io/pod-name": ["gw-1"], "authentication.kubernetes.io/pod-uid": ["u-1"] },
    },
  };
  assert.deepEqual(identityFromReview(status, "pilotfish"), {
    identity: { username: "system:serviceaccount:istio-system:gateway", namespace: "istio-system", serviceAccount: "gateway", podName: "gw-1", podUid: "u-1" },
  });
  assert.match((identityFromReview({ authenticated: false, error: "expired" }, "pilotfish") as { refused: string }).refused, /expired/);
  assert.match((identityFromReview({ ...status, audiences: ["other"] }, "pilotfish") as { refused: string }).refused, /do not include pilotfish/);
  assert.match((identityFromReview({ authenticated: true, user: { username: "alice" } }, "pilotfish") as { refused: string }).refused, /alice is not a ServiceAccount/);
});

test("a pod's workload, Istio's way", () => {
  const owned = (kind: string, name: string, hash?: string) => ({
    metadata: { name: "p", labels: hash ? { "pod-template-hash": hash } : ({} as Record<string, string>), ownerReferences: [{ kind, name, controller: true }] },
  });
  assert.equal(workloadOfPod(owned("ReplicaSet", "istio-ingressgateway-5d8f7c9b4", "5d8f7c9b4")), "istio-ingressgateway");
  assert.equal(workloadOfPod(owned("ReplicaSet", "bare-rs")), "bare-rs", "a ReplicaSet of no Deployment is the workload");
  assert.equal(workloadOfPod(owned("StatefulSet", "db")), "db");
  assert.equal(workloadOfPod({ metadata: { name: "lonely", ownerReferences: [{ kind: "ReplicaSet", name: "x", controller: false }] } }), "lonely");
});

test("a token's expiry bounds its cache entry", () => {
  const jwt = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.s`;
  assert.equal(tokenExpiry(jwt({ exp: 1700000000 })), 1700000000_000);
  assert.equal(tokenExpiry(jwt({})), undefined);
  assert.equal(tokenExpiry("garbage"), undefined);
});

test("the CA root goes to gateway namespaces and injected namespaces", () => {
  const ns = (name: string, labels: Record<string, string> = {}) => ({ metadata: { name, labels } });
  const namespaces = [ns("a", { "istio-injection": "enabled" }), ns("b", { "istio-injection": "disabled", "istio.io/rev": "default" }), ns("c", { "istio.io/rev": "default" }), ns("d"), ns("kube-system", { "istio-injection": "enabled" })];
  assert.deepEqual(caRootNamespaces(namespaces, [{ metadata: { name: "gw", namespace: "edge" } }]), ["a", "c", "edge"]);
});
