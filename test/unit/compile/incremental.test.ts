/**
 * The compiler memoises per-VirtualService translations, whole virtual hosts and built clusters
 * across compiles (docs/adr/0019). A stale entry would silently serve old config, so: a seeded
 * random sequence of changes (Service ports, DestinationRules appearing and changing, Gateway
 * hosts and servers, VirtualService gateways, deletes and re-adds under the same name,
 * same-content new objects, endpoints, TLS secrets, mesh options), where every incremental
 * compile (unchanged objects kept, as the informers do) must deep-equal a from-scratch compile of
 * a structured clone of the same inputs (new objects: nothing memoised applies).
 */
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { compileGateway } from "../../../src/compile/compile.js";
import type { CompileOptions } from "../../../src/compile/output.js";
import type { EnvoyJson } from "../../../src/envoy/resources.js";
import type { DestinationRule, Gateway, HTTPRoute, Server, VirtualService } from "../../../src/model/istio.js";
import type { EndpointSlice, Secret, Service } from "../../../src/model/kube.js";
import { defaultIngressGatewayProxy } from "../../../src/model/proxy.js";
import type { GatewayProxy } from "../../../src/model/proxy.js";
import { buildSnapshot } from "../../../src/model/snapshot.js";
import type { SnapshotInputs } from "../../../src/model/snapshot.js";
import { createCertificateChainSet } from "../../../src/pki/index.js";
import { seededRandom } from "../../support/random.js";


const namespaces = ["shop", "web"] as const;
const serviceCount = 5;
const virtualServiceCount = 8;

interface World {
  gateways: Map<string, Gateway>;
  virtualServices: Map<string, VirtualService>;
  destinationRules: Map<string, DestinationRule>;
  services: Map<string, Service>;
  endpointSlices: Map<string, EndpointSlice>;
  secrets: Map<string, Secret>;
  options: CompileOptions;
  proxy: GatewayProxy;
}

let certificate: { cert: string; key: string };

before(async () => {
  const chain = await createCertificateChainSet({ name: "incremental", serverHosts: ["h1.example.com"] });
  certificate = { cert: chain.server.fullChainPem, key: chain.server.privateKeyPem };
});

function generator(seed: number) {
  const next = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const chance = (p: number): boolean => next() < p;
  let version = 0;
  const stamp = () => `2026-01-01T00:${String(Math.floor(version / 60) % 60).padStart(2, "0")}:${String(version++ % 60).padStart(2, "0")}Z`;

  const service = (namespace: string, index: number): Service => {
    const ports = chance(0.7) ? [{ name: pick(["http", "http2-web", "grpc"]), port: pick([80, 8080]), targetPort: 8080 }] : [
      { name: "http", port: 80, targetPort: 8080 },
      { name: "http-alt", port: 8080, targetPort: 9090 },
    ];
    return { metadata: { name: `svc-${index}`, namespace, creationTimestamp: stamp() }, spec: { ports } };
  };
  const endpointSlice = (namespace: string, index: number): EndpointSlice => ({
    metadata: { name: `svc-${index}-a`, namespace, labels: { "kubernetes.io/service-name": `svc-${index}` } },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080 }, { name: "http-alt", port: 9090 }],
    endpoints: Array.from({ length: 1 + Math.floor(next() * 3) }, (_, i) => ({
      addresses: [`127.3.${index}.${i + Math.floor(next() * 4) * 10}`],
      conditions: { ready: chance(0.85) },
    })),
  });
  const destinationRule = (namespace: string, index: number): DestinationRule => {
    const host = chance(0.2) ? `*.${namespace}.svc.cluster.local` : `svc-${index}`;
    const loadBalancer = pick([{ simple: "ROUND_ROBIN" }, { consistentHash: { httpHeaderName: "x-user" } }, { simple: "LEAST_REQUEST" }]);
    const spec: DestinationRule["spec"] = { host, trafficPolicy: { loadBalancer } as DestinationRule["spec"]["trafficPolicy"] };
    if (chance(0.7)) {
      spec.subsets = [{ name: "v1", labels: { version: "v1" } }];
      if (chance(0.5)) spec.subsets.push({ name: "v2", labels: { version: "v2" }, trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true } } } as DestinationRule["spec"]["trafficPolicy"] });
    }
    return { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: `dr-${index}`, namespace, creationTimestamp: stamp() }, spec };
  };
  const server = (): Server => {
    const hosts = chance(0.5) ? ["*"] : [pick(["shop/*", "*/h1.example.com", "h2.example.com", "*.example.com", "web/h3.example.com"])];
    const kind = pick(["http", "http", "http8080", "https"]);
    if (kind === "https") {
      return { port: { number: 443, name: "https", protocol: "HTTPS" }, hosts, tls: { mode: "SIMPLE", credentialName: pick(["cert", "missing-cert"]) } };
    }
    const port = kind === "http" ? 80 : 8080;
    const result: Server = { port: { number: port, name: `http-${port}`, protocol: "HTTP" }, hosts };
    if (chance(0.2)) result.tls = { httpsRedirect: true };
    return result;
  };
  const gateway = (name: string): Gateway => ({
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name, namespace: "shop", creationTimestamp: stamp() },
    spec: { selector: { istio: "ingressgateway" }, servers: Array.from({ length: 1 + Math.floor(next() * 2) }, server) },
  });
  const destination = (): { host: string; port?: { number: number }; subset?: string } => {
    const result: { host: string; port?: { number: number }; subset?: string } = { host: chance(0.8) ? `svc-${Math.floor(next() * serviceCount)}` : `svc-${Math.floor(next() * serviceCount)}.web.svc.cluster.local` };
    if (chance(0.4)) result.port = { number: pick([80, 8080]) };
    if (chance(0.3)) result.subset = pick(["v1", "v2", "v3"]);
    return result;
  };
  const rule = (): HTTPRoute => {
    const result: HTTPRoute = {};
    if (chance(0.6)) {
      const match: NonNullable<HTTPRoute["match"]>[number] = { uri: { prefix: pick(["/a", "/b", "/api"]) } };
      if (chance(0.2)) match.port = pick([80, 8080]);
      if (chance(0.2)) match.gateways = [pick(["gw-a", "gw-b", "shop/gw-a"])];
      result.match = [match];
    }
    if (chance(0.15)) result.directResponse = { status: 200, body: { string: "ok" } };
    else {
      result.route = chance(0.7)
        ? [{ destination: destination() }]
        : [
            { destination: destination(), weight: 70 },
            { destination: destination(), weight: 30 },
          ];
      if (chance(0.3)) result.retries = { attempts: 2, retryOn: "5xx" };
      if (chance(0.2)) result.mirror = destination();
    }
    return result;
  };
  const virtualService = (namespace: string, index: number): VirtualService => ({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: `vs-${index}`, namespace, creationTimestamp: stamp() },
    spec: {
      hosts: [pick(["h1.example.com", "h2.example.com", "h3.example.com", `h${index}.example.com`])],
      gateways: [pick(["shop/gw-a", "shop/gw-b"]), ...(chance(0.3) ? ["shop/gw-b"] : [])],
      http: Array.from({ length: 1 + Math.floor(next() * 3) }, rule),
    },
  });
  const secret = (): Secret => ({
    metadata: { name: "cert", namespace: "istio-system" },
    type: "kubernetes.io/tls",
    data: { "tls.crt": Buffer.from(certificate.cert).toString("base64"), "tls.key": Buffer.from(certificate.key).toString("base64") },
  });
  return { next, pick, chance, service, endpointSlice, destinationRule, gateway, virtualService, secret };
}

type Generator = ReturnType<typeof generator>;

function initialWorld(g: Generator): World {
  const world: World = {
    gateways: new Map(),
    virtualServices: new Map(),
    destinationRules: new Map(),
    services: new Map(),
    endpointSlices: new Map(),
    secrets: new Map(),
    options: { defaultRetryOn503: false },
    proxy: defaultIngressGatewayProxy,
  };
  for (const name of ["gw-a", "gw-b"]) world.gateways.set(name, g.gateway(name));
  for (const namespace of namespaces) {
    for (let i = 0; i < serviceCount; i++) {
      world.services.set(`${namespace}/${i}`, g.service(namespace, i));
      world.endpointSlices.set(`${namespace}/${i}`, g.endpointSlice(namespace, i));
    }
    for (let i = 0; i < virtualServiceCount; i++) world.virtualServices.set(`${namespace}/${i}`, g.virtualService(namespace, i));
  }
  world.secrets.set("cert", g.secret());
  return world;
}

/** One change, as an informer would see it: the changed object is a new object, the rest stay. */
function change(world: World, g: Generator): string {
  const namespace = g.pick(namespaces);
  const index = Math.floor(g.next() * serviceCount);
  const vsIndex = Math.floor(g.next() * virtualServiceCount);
  const vsKey = `${namespace}/${vsIndex}`;
  switch (g.pick(["service", "dr", "dr-delete", "gateway", "vs-gateways", "vs-delete", "vs-readd", "vs-clone", "vs-new", "endpoints", "secret", "options", "proxy"])) {
    case "service":
      world.services.set(`${namespace}/${index}`, g.service(namespace, index));
      return `service ${namespace}/svc-${index} ports changed`;
    case "dr":
      world.destinationRules.set(`${namespace}/${index}`, g.destinationRule(namespace, index));
      return `DestinationRule ${namespace}/dr-${index} appeared or changed`;
    case "dr-delete":
      world.destinationRules.delete(`${namespace}/${index}`);
      return `DestinationRule ${namespace}/dr-${index} deleted`;
    case "gateway": {
      const name = g.pick(["gw-a", "gw-b"]);
      world.gateways.set(name, g.gateway(name));
      return `Gateway ${name} hosts/servers changed`;
    }
    case "vs-gateways": {
      const old = world.virtualServices.get(vsKey);
      if (!old) return "nothing (VirtualService absent)";
      const gateways = g.pick([["shop/gw-a"], ["shop/gw-b"], ["shop/gw-a", "shop/gw-b"], ["shop/gw-c"]]);
      world.virtualServices.set(vsKey, { ...old, spec: { ...old.spec, gateways } });
      return `VirtualService ${vsKey} gateways → ${gateways.join(",")}`;
    }
    case "vs-delete":
      world.virtualServices.delete(vsKey);
      return `VirtualService ${vsKey} deleted`;
    case "vs-readd": {
      // Deleted and re-added under the same name: a new object, same or different content.
      const old = world.virtualServices.get(vsKey);
      world.virtualServices.set(vsKey, old && g.chance(0.5) ? structuredClone(old) : g.virtualService(namespace, vsIndex));
      return `VirtualService ${vsKey} re-added`;
    }
    case "vs-clone": {
      const old = world.virtualServices.get(vsKey);
      if (old) world.virtualServices.set(vsKey, structuredClone(old));
      return `VirtualService ${vsKey} same content, new object`;
    }
    case "vs-new":
      world.virtualServices.set(vsKey, g.virtualService(namespace, vsIndex));
      return `VirtualService ${vsKey} rewritten`;
    case "endpoints":
      world.endpointSlices.set(`${namespace}/${index}`, g.endpointSlice(namespace, index));
      return `EndpointSlice ${namespace}/svc-${index}-a changed`;
    case "secret":
      if (world.secrets.has("cert")) world.secrets.delete("cert");
      else world.secrets.set("cert", g.secret());
      return "TLS secret toggled";
    case "options":
      world.options = g.chance(0.5) ? { defaultRetryOn503: !world.options.defaultRetryOn503 } : { ...world.options, mesh: { includeRequestAttemptCount: g.chance(0.5), connectTimeoutMs: g.pick([10_000, 5_000]) } };
      return "compile options changed";
    default:
      world.proxy = { ...world.proxy, namespace: g.pick(["istio-system", "shop"]) };
      return `proxy namespace → ${world.proxy.namespace}`;
  }
}

function inputs(world: World): SnapshotInputs {
  return {
    gateways: [...world.gateways.values()],
    virtualServices: [...world.virtualServices.values()],
    destinationRules: [...world.destinationRules.values()],
    services: [...world.services.values()],
    endpointSlices: [...world.endpointSlices.values()],
    secrets: [...world.secrets.values()],
  };
}

for (const seed of [1, 2, 3, 4]) {
  test(`seed ${seed}: 150 random changes, each incremental compile equals a from-scratch compile`, () => {
    const g = generator(seed);
    const world = initialWorld(g);
    const history: string[] = [];
    let virtualHosts = 0;
    let clusters = 0;
    for (let step = 0; step < 150; step++) {
      history.push(change(world, g));
      const incremental = compileGateway(buildSnapshot(inputs(world)), world.proxy, world.options);
      // New objects throughout (a structured clone): no memoised entry is keyed by them.
      const fresh = compileGateway(buildSnapshot(structuredClone(inputs(world))), structuredClone(world.proxy), structuredClone(world.options));
      assert.deepEqual(incremental, fresh, `seed ${seed}, step ${step}; changes so far:\n${history.slice(-8).join("\n")}`);
      for (const route of incremental.resources.routes) virtualHosts += (route.virtual_hosts as EnvoyJson[]).filter((host) => !String(host.name).startsWith("blackhole")).length;
      clusters += incremental.resources.clusters.length;
    }
    // Not vacuous: the random configs compile to real virtual hosts and clusters most of the time.
    console.log(`seed ${seed}: ${virtualHosts} virtual hosts, ${clusters} clusters over 150 compiles`);
    assert.ok(virtualHosts > 300 && clusters > 300, `${virtualHosts} virtual hosts, ${clusters} clusters`);
  });
}

test("unchanged VirtualServices keep their virtual host objects across compiles (the memo is used)", () => {
  const g = generator(9);
  const world = initialWorld(g);
  world.gateways.set("gw-a", {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "gw-a", namespace: "shop" },
    spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] },
  });
  const first = compileGateway(buildSnapshot(inputs(world)), world.proxy, world.options);
  const vsKey = [...world.virtualServices.keys()][0]!;
  world.virtualServices.set(vsKey, g.virtualService("shop", 0));
  const second = compileGateway(buildSnapshot(inputs(world)), world.proxy, world.options);
  const hostsOf = (result: typeof first) => (result.resources.routes.find((route) => route.name === "http.8080")?.virtual_hosts ?? []) as EnvoyJson[];
  const before = new Set(hostsOf(first));
  const reused = hostsOf(second).filter((host) => before.has(host));
  assert.ok(reused.length > 0, "some virtual hosts are the same objects as in the previous compile");
  assert.ok(Object.isFrozen(reused[0]), "memoised virtual hosts are frozen: a consumer cannot edit them under the cache");
  assert.deepEqual(second, compileGateway(buildSnapshot(structuredClone(inputs(world))), world.proxy, world.options));
});
