/**
 * The xDS port's security as the operator runs it (src/controllers/xds-serving.ts): a real
 * apiserver issues real tokens (TokenRequest, `kubectl create token --audience pilotfish`, bound
 * to pod objects) and answers the server's TokenReviews and pod reads under config/rbac's
 * identity; the server serves TLS from the CA in the webhook's CA Secret.
 *
 * - a token bound to a pod of the gateway Deployment gets its config, secrets included;
 * - no token, a token of another audience, a token bound to no pod, a pod of another workload
 *   in the same namespace, a pod of the same workload name in another namespace: refused with
 *   UNAUTHENTICATED / PERMISSION_DENIED and sent nothing — no secret above all;
 * - TokenReview answers are cached (one review for many streams) and expire;
 * - a real Envoy verifies the server (SNI pilotfish.istio-system.svc, the CA root) and
 *   authenticates with its token; the serving certificate is renewed under it without the
 *   stream dropping, and new handshakes get the new certificate;
 * - ConfigMap pilotfish-ca-root lands in the gateway's namespace and in injection-labelled ones.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { KubeConfig } from "@kubernetes/client-node";
import { caRootConfigMapName, caRootKey } from "../../../src/controllers/ca-root.js";
import { KubeXdsAuthenticator } from "../../../src/controllers/xds-auth.js";
import { defaultXdsCertHosts, startOperatorXds } from "../../../src/controllers/xds-serving.js";
import type { OperatorXds } from "../../../src/controllers/xds-serving.js";
import type { EnvoyResources } from "../../../src/envoy/resources.js";
import { typeUrl } from "../../../src/envoy/types.js";
import { KubeRest } from "../../../src/sources/kube/rest.js";
import { adsBootstrap } from "../../../src/xds/bootstrap.js";
import { SnapshotStore } from "../../../src/xds/store.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { printEnvoyLogOnFailure, startEnvoy } from "../../support/envoy.js";
import type { Envoy } from "../../support/envoy.js";
import { httpRequest, waitFor } from "../../support/net.js";
import { repoRoot } from "../../support/paths.js";
import { operatorKubeconfig } from "../operator/support/identity.js";
import { compile, gatewayProxy, proxyKey, yaml } from "./harness.js";

type Obj = Record<string, unknown>;
const serverName = "pilotfish.istio-system.svc";
const secretName = "kubernetes://web-cred";
const host = "auth.example.test";
const node = (pod: string, namespace = "istio-system") => ({
  id: `router~127.0.0.1~${pod}.${namespace}~${namespace}.svc.cluster.local`,
  cluster: "istio-ingressgateway",
  metadata: { fields: { NAMESPACE: { string_value: namespace }, WORKLOAD_NAME: { string_value: "istio-ingressgateway" } } },
});

/** A pod object (no node runs it): owned by a ReplicaSet the way a Deployment's pods are, or by nobody. */
function pod(namespace: string, name: string, serviceAccount: string, replicaSet?: { name: string; hash: string }): string {
  return yaml({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace,
      labels: replicaSet ? { "pod-template-hash": replicaSet.hash, istio: "ingressgateway" } : { app: name },
      ownerReferences: replicaSet
        ? [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: replicaSet.name, uid: "00000000-0000-0000-0000-000000000001", controller: true }]
        : undefined,
    },
    spec: { serviceAccountName: serviceAccount, containers: [{ name: "istio-proxy", image: "pilotfish/proxy:1.40.0" }] },
  });
}

interface Outcome {
  responses: Obj[];
  status: grpc.StatusObject | undefined;
}

describe("xDS over TLS with Kubernetes authentication", { timeout: 600_000 }, () => {
  let controlPlane: ControlPlane;
  let work: string;
  let kubeConfig: KubeConfig;
  let xds: OperatorXds;
  let xdsPort: number;
  let envoy: Envoy | undefined;
  const tokens: Record<string, string> = {};
  const store = new SnapshotStore();
  let httpPort: number;
  let resources: EnvoyResources;
  const request = store.codec.type("envoy.service.discovery.v3.DiscoveryRequest");
  const response = store.codec.type("envoy.service.discovery.v3.DiscoveryResponse");

  printEnvoyLogOnFailure(() => (envoy ? [envoy] : []));

  const kubectl = (args: string[], input?: string) => controlPlane.kubectlOk(args, input === undefined ? undefined : { input });
  const token = async (namespace: string, serviceAccount: string, boundPod?: string, audience = "pilotfish"): Promise<string> => {
    const args = ["create", "token", serviceAccount, "-n", namespace, "--audience", audience, "--duration", "1h"];
    if (boundPod) {
      const uid = (await kubectl(["get", "pod", boundPod, "-n", namespace, "-o", "jsonpath={.metadata.uid}"])).trim();
      args.push("--bound-object-kind", "Pod", "--bound-object-name", boundPod, "--bound-object-uid", uid);
    }
    return (await kubectl(args)).trim();
  };

  /** One SotW stream asking for the gateway's SDS secret as `claimedPod`; what came back within 3 s, and how it ended. */
  const askForSecret = async (bearer: string | undefined, claimedPod: string, claimedNamespace = "istio-system", port = xdsPort, typeUrlAsked: string = typeUrl.secret): Promise<Outcome> => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(xds.caPem!)), { "grpc.ssl_target_name_override": serverName });
    const metadata = new grpc.Metadata();
    if (bearer !== undefined) metadata.set("authorization", `Bearer ${bearer}`);
    const outcome: Outcome = { responses: [], status: undefined };
    const call = client.makeBidiStreamRequest(
      "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
      (bytes: Uint8Array) => Buffer.from(bytes),
      (bytes: Buffer) => bytes,
      metadata,
    );
    call.on("data", (bytes: Buffer) => outcome.responses.push(response.toObject(response.decode(bytes), { longs: String, bytes: String, defaults: false }) as Obj));
    call.on("error", () => undefined);
    call.on("status", (status: grpc.StatusObject) => (outcome.status = status));
    const names = typeUrlAsked === typeUrl.secret ? [secretName] : [];
    call.write(request.encode(request.fromObject({ node: node(claimedPod, claimedNamespace), type_url: typeUrlAsked, resource_names: names })).finish());
    await waitFor(() => outcome.status !== undefined || outcome.responses.length > 0, { timeoutMs: 15_000, intervalMs: 10, what: "an answer or the end of the stream" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    call.cancel();
    client.close();
    return outcome;
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-xds-auth-"));
    controlPlane = await startControlPlane();
    const kubeconfigPath = await operatorKubeconfig(controlPlane, work);
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    await kubectl(["apply", "-f", join(repoRoot, "config", "gateway", "deployment.yaml")]);
    await kubectl(["create", "namespace", "other"]);
    await kubectl(["apply", "-f", "-"], yaml({ apiVersion: "v1", kind: "Namespace", metadata: { name: "mesh", labels: { "istio-injection": "enabled" } } }));
    for (const namespace of ["istio-system", "other"]) await kubectl(["create", "serviceaccount", "gateway", "-n", namespace]);
    const replicaSet = { name: "istio-ingressgateway-5d8f7c9b4", hash: "5d8f7c9b4" };
    await kubectl(["apply", "-f", "-"], [
      pod("istio-system", "istio-ingressgateway-5d8f7c9b4-abcde", "gateway", replicaSet),
      pod("istio-system", "intruder", "gateway"),
      pod("other", "istio-ingressgateway-5d8f7c9b4-zzzzz", "gateway", replicaSet),
    ].join("---\n"));
    tokens.gateway = await token("istio-system", "gateway", "istio-ingressgateway-5d8f7c9b4-abcde");
    tokens.intruder = await token("istio-system", "gateway", "intruder");
    tokens.otherNamespace = await token("other", "gateway", "istio-ingressgateway-5d8f7c9b4-zzzzz");
    tokens.unbound = await token("istio-system", "gateway");
    tokens.wrongAudience = await token("istio-system", "gateway", "istio-ingressgateway-5d8f7c9b4-abcde", "https://kubernetes.default.svc.cluster.local");

    xds = await startOperatorXds({
      kubeConfig,
      namespace: "istio-system",
      address: "127.0.0.1:0",
      plaintext: false,
      auth: "kubernetes",
      certHosts: defaultXdsCertHosts("istio-system"),
      debugAddress: "off",
      logger: { info: () => undefined, warn: () => undefined, debug: () => undefined, error: () => undefined },
      servingValidityMs: 9000,
      caRootResyncMs: 60_000,
    });
    xdsPort = Number(xds.address.slice(xds.address.lastIndexOf(":") + 1));
    const proxy = await gatewayProxy([80]);
    httpPort = proxy.servicePorts[0]!.targetPort!;
    resources = compile(
      [
        yaml({ apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name: "gw", namespace: "shop" }, spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [host] }] } }),
        yaml({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "vs", namespace: "shop" }, spec: { hosts: [host], gateways: ["gw"], http: [{ directResponse: { status: 200, body: { string: "one" } } }] } }),
      ],
      proxy,
    );
    resources.secrets.push({ "@type": typeUrl.secret, name: secretName, generic_secret: { secret: { inline_string: "the gateway's own key" } } });
    xds.onCompiled(proxyKey, resources);
  });

  after(async () => {
    await envoy?.stop();
    await xds?.close();
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("a token bound to a pod of the gateway Deployment gets the gateway's secret", async () => {
    const outcome = await askForSecret(tokens.gateway, "istio-ingressgateway-5d8f7c9b4-abcde");
    assert.equal(outcome.responses.length, 1, `one response (status ${JSON.stringify(outcome.status)})`);
    const resourcesSent = outcome.responses[0]!.resources as Obj[];
    assert.equal(resourcesSent.length, 1);
    const secret = store.codec.type("envoy.extensions.transport_sockets.tls.v3.Secret");
    const decoded = secret.toObject(secret.decode(Buffer.from(String(resourcesSent[0]!.value), "base64"))) as { name: string };
    assert.equal(decoded.name, secretName);
  });

  const refusals: Array<[string, () => string | undefined, string, grpc.status, RegExp]> = [
    ["no token", () => undefined, "istio-ingressgateway-5d8f7c9b4-abcde", grpc.status.UNAUTHENTICATED, /no bearer token/],
    ["a garbage token", () => "not-a-token", "istio-ingressgateway-5d8f7c9b4-abcde", grpc.status.UNAUTHENTICATED, /not accepted by the apiserver/],
    ["a token for another audience", () => tokens.wrongAudience, "istio-ingressgateway-5d8f7c9b4-abcde", grpc.status.UNAUTHENTICATED, /not accepted|audiences/],
    ["a token bound to no pod", () => tokens.unbound, "istio-ingressgateway-5d8f7c9b4-abcde", grpc.status.PERMISSION_DENIED, /bound to no pod/],
    ["another workload's pod in the gateway's namespace claiming the gateway", () => tokens.intruder, "istio-ingressgateway-5d8f7c9b4-abcde", grpc.status.PERMISSION_DENIED, /belongs to workload intruder, not istio-ingressgateway/],
    ["a same-named workload's pod in another namespace", () => tokens.otherNamespace, "istio-ingressgateway-5d8f7c9b4-zzzzz", grpc.status.PERMISSION_DENIED, /only from its own namespace/],
  ];
  for (const [what, bearer, claimedPod, code, details] of refusals) {
    test(`refused, and sent nothing: ${what}`, async () => {
      const outcome = await askForSecret(bearer(), claimedPod);
      assert.deepEqual(outcome.responses, [], "no response at all, so no secret");
      assert.equal(outcome.status?.code, code, `status ${JSON.stringify(outcome.status)}`);
      assert.match(outcome.status?.details ?? "", details);
    });
  }

  test("--xds-auth permissive: a client without a token gets the config its node names but no secret; a foreign token is still refused", async () => {
    const permissive = await startOperatorXds({
      kubeConfig,
      namespace: "istio-system",
      address: "127.0.0.1:0",
      plaintext: false,
      auth: "permissive",
      certHosts: defaultXdsCertHosts("istio-system"),
      debugAddress: "off",
      logger: { info: () => undefined, warn: () => undefined, debug: () => undefined, error: () => undefined },
    });
    try {
      permissive.onCompiled(proxyKey, resources);
      const port = Number(permissive.address.slice(permissive.address.lastIndexOf(":") + 1));
      const secret = await askForSecret(undefined, "istio-ingressgateway-5d8f7c9b4-abcde", "istio-system", port);
      assert.equal(secret.responses.length, 1, `answered (status ${JSON.stringify(secret.status)})`);
      assert.deepEqual(secret.responses[0]!.resources ?? [], [], "an SDS answer without the secret");
      const clusters = await askForSecret(undefined, "istio-ingressgateway-5d8f7c9b4-abcde", "istio-system", port, typeUrl.listener);
      assert.ok(((clusters.responses[0]?.resources as Obj[] | undefined) ?? []).length > 0, "LDS is served");
      const withToken = await askForSecret(tokens.gateway, "istio-ingressgateway-5d8f7c9b4-abcde", "istio-system", port);
      assert.equal((withToken.responses[0]!.resources as Obj[]).length, 1, "an entitled token gets the secret");
      const foreign = await askForSecret(tokens.intruder, "istio-ingressgateway-5d8f7c9b4-abcde", "istio-system", port);
      assert.deepEqual(foreign.responses, []);
      assert.equal(foreign.status?.code, grpc.status.PERMISSION_DENIED);
    } finally {
      await permissive.close();
    }
  });

  test("a plaintext client gets nothing from the TLS port", async () => {
    const client = new grpc.Client(`127.0.0.1:${xdsPort}`, grpc.credentials.createInsecure());
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = client.makeBidiStreamRequest("/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources", (b: Uint8Array) => Buffer.from(b), (b: Buffer) => b);
      call.on("data", () => assert.fail("a plaintext client got a response"));
      call.on("error", () => undefined);
      call.on("status", resolve);
      call.write(request.encode(request.fromObject({ node: node("istio-ingressgateway-5d8f7c9b4-abcde"), type_url: typeUrl.secret, resource_names: [secretName] })).finish());
    });
    client.close();
    assert.equal(status.code, grpc.status.UNAVAILABLE);
  });

  test("TokenReview answers are cached, for a bounded time", async () => {
    let now = Date.now();
    const authenticator = new KubeXdsAuthenticator({ rest: new KubeRest(kubeConfig), reviewTtlMs: 30_000, now: () => now });
    const first = await authenticator.authenticate(tokens.gateway!);
    assert.deepEqual(
      { namespace: first.namespace, serviceAccount: first.serviceAccount, podName: first.podName },
      { namespace: "istio-system", serviceAccount: "gateway", podName: "istio-ingressgateway-5d8f7c9b4-abcde" },
    );
    await authenticator.authenticate(tokens.gateway!);
    await authenticator.authorize(first, proxyKey);
    assert.equal(authenticator.reviewsRequested, 1, "the second stream is answered from the cache");
    now += 31_000;
    await authenticator.authenticate(tokens.gateway!);
    assert.equal(authenticator.reviewsRequested, 2, "after the TTL the token is reviewed again");
    await assert.rejects(authenticator.authenticate("garbage"), /not accepted/);
    await assert.rejects(authenticator.authenticate("garbage"), /not accepted/);
    assert.equal(authenticator.reviewsRequested, 3, "a refusal is cached too");
  });

  test("a real Envoy verifies the server, authenticates with its token, and keeps its stream across a certificate renewal", async () => {
    const bootstrap = adsBootstrap({
      xdsHost: "127.0.0.1",
      xdsPort,
      apiType: "GRPC",
      adminPort: 0,
      namespace: "istio-system",
      workloadName: "istio-ingressgateway",
      podName: "istio-ingressgateway-5d8f7c9b4-abcde",
      labels: { istio: "ingressgateway" },
      tls: { caPem: xds.caPem!, serverName },
      token: tokens.gateway,
    });
    envoy = await startEnvoy({ bootstrap, name: "xds-auth", readyTimeoutMs: 60_000 });
    const get = () => httpRequest({ url: `http://127.0.0.1:${httpPort}/`, headers: { host }, timeoutMs: 5000 });
    await waitFor(async () => (await get()).body === "one", { timeoutMs: 60_000, intervalMs: 50, what: "the route served over TLS ADS" });
    const connection = () => xds.server.syncStatus().proxies.find((p) => p.proxy === proxyKey);
    const before = connection()!;
    assert.deepEqual(before.identity, { namespace: "istio-system", serviceAccount: "gateway", pod: "istio-ingressgateway-5d8f7c9b4-abcde" });

    const firstSerial = new X509Certificate(xds.serving()!.certificatePem).serialNumber;
    await waitFor(() => new X509Certificate(xds.serving()!.certificatePem).serialNumber !== firstSerial, { timeoutMs: 30_000, intervalMs: 100, what: "the serving certificate renewed" });
    const presented = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port: xdsPort, servername: serverName, ca: xds.caPem, ALPNProtocols: ["h2"] }, () => {
        resolve(socket.getPeerX509Certificate()!.serialNumber);
        socket.end();
      });
      socket.on("error", reject);
    });
    assert.equal(presented, new X509Certificate(xds.serving()!.certificatePem).serialNumber, "a new handshake gets the renewed certificate");

    // The stream opened before the renewal still carries pushes.
    resources.routes = JSON.parse(JSON.stringify(resources.routes).replace('"one"', '"two"')) as EnvoyResources["routes"];
    xds.onCompiled(proxyKey, resources);
    await waitFor(async () => (await get()).body === "two", { timeoutMs: 30_000, intervalMs: 50, what: "the change pushed after the renewal" });
    const afterRenewal = xds.server.syncStatus().proxies.filter((p) => p.proxy === proxyKey);
    assert.deepEqual(afterRenewal.map((p) => p.connection), [before.connection], "the same stream, not a reconnect");
  });

  test("ConfigMap pilotfish-ca-root holds the CA in the gateway's namespace and in injection-labelled ones, not elsewhere", async () => {
    for (const namespace of ["istio-system", "mesh"]) {
      const data = await waitFor(
        async () => {
          const result = await controlPlane.kubectl(["get", "configmap", caRootConfigMapName, "-n", namespace, "-o", "json"]);
          return result.code === 0 ? ((JSON.parse(result.stdout) as { data: Record<string, string> }).data) : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: `ConfigMap ${namespace}/${caRootConfigMapName}` },
      );
      assert.equal(data[caRootKey], xds.caPem);
    }
    const webhookCa = JSON.parse(await kubectl(["get", "secret", "pilotfish-webhook-ca", "-n", "istio-system", "-o", "json"])) as { data: Record<string, string> };
    assert.equal(Buffer.from(webhookCa.data["ca-cert.pem"]!, "base64").toString("utf8"), xds.caPem, "the webhook's CA: one root for everything the operator serves");
    const other = await controlPlane.kubectl(["get", "configmap", caRootConfigMapName, "-n", "other"]);
    assert.notEqual(other.code, 0, "a namespace with no proxy gets none");
  });
});

