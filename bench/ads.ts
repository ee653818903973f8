/**
 * ADS benchmark (run on purpose, not a test; figures in docs/xds.md):
 *
 *   npx tsx bench/ads.ts encode     # JSON → protobuf of the 1,000-VirtualService config
 *   npx tsx bench/ads.ts            # encode, then the real-Envoy figures below
 *
 * - encode: compile 1,000 VirtualServices (× 5 routes, as bench/compile.ts) and encode every
 *   resource to protobuf (src/xds/codec.ts); median of 5 runs, bytes.
 * - full push: a fresh Envoy connects over ADS (SotW) to a store already holding the config;
 *   time from Envoy's spawn to every type ACKed, and from the first request to the last ACK.
 * - route latency: with the 1,000 VirtualServices loaded, 200 times: add a VirtualService with a
 *   directResponse route under a new host, setSnapshot, and poll Envoy with that Host until it
 *   answers; p50/p95/p99 of setSnapshot → first good answer (includes encode + push + Envoy's
 *   RDS update + the poll interval of 1 ms).
 */
import { compileGateway } from "../src/compile/compile.js";
import { envoyJson } from "../src/envoy/cluster.js";
import type { EnvoyResources } from "../src/envoy/resources.js";
import type { Gateway, VirtualService } from "../src/api/index.js";
import type { EndpointSlice, Service } from "../src/model/kube.js";
import type { GatewayProxy } from "../src/model/proxy.js";
import { buildSnapshot } from "../src/model/snapshot.js";
import type { SnapshotInputs } from "../src/model/snapshot.js";
import { ProtoCodec } from "../src/xds/codec.js";

export const benchNamespace = "bench";

export function generateInputs(size: number, extraVirtualServices: VirtualService[] = []): SnapshotInputs {
  const namespace = benchNamespace;
  const gateway: Gateway = {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "bench-gateway", namespace },
    spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] },
  };
  const virtualServices: VirtualService[] = [...extraVirtualServices];
  const services: Service[] = [];
  const endpointSlices: EndpointSlice[] = [];
  for (let i = 0; i < size; i++) {
    const name = `svc-${i}`;
    services.push({ metadata: { name, namespace }, spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] } });
    endpointSlices.push({
      metadata: { name: `${name}-a`, namespace, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080 }],
      endpoints: [
        { addresses: [`127.1.${(i >> 8) & 255}.${i & 255}`], conditions: { ready: true } },
        { addresses: [`127.2.${(i >> 8) & 255}.${i & 255}`], conditions: { ready: true } },
      ],
    });
    const http = Array.from({ length: 5 }, (_, r) =>
      r === 4
        ? { route: [{ destination: { host: name, port: { number: 80 } } }], timeout: "5s" }
        : {
            match: [{ uri: { prefix: `/api/v${r}` }, headers: { "x-tenant": { exact: `t${r}` } } }],
            route: [{ destination: { host: name, port: { number: 80 } } }],
            retries: { attempts: 3, retryOn: "5xx" },
          },
    );
    virtualServices.push({
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name, namespace },
      spec: { hosts: [`${name}.bench.example.com`], gateways: ["bench-gateway"], http },
    });
  }
  return { gateways: [gateway], virtualServices, services, endpointSlices, destinationRules: [] };
}

export function compileBench(size: number, proxy: GatewayProxy, extra: VirtualService[] = []): EnvoyResources {
  return compileGateway(buildSnapshot(generateInputs(size, extra)), proxy).resources;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

function measureEncode(resources: EnvoyResources): { ms: number; bytes: number; jsonBytes: number; resources: number } {
  const codec = new ProtoCodec();
  const all = [...resources.listeners, ...resources.routes, ...resources.clusters, ...resources.endpoints, ...resources.secrets];
  const times: number[] = [];
  let bytes = 0;
  for (let run = 0; run < 6; run++) {
    const t0 = performance.now();
    bytes = 0;
    for (const resource of all) bytes += codec.encodeAny(envoyJson(resource)).value.length;
    if (run > 0) times.push(performance.now() - t0);
  }
  const jsonBytes = all.reduce((sum, resource) => sum + JSON.stringify(envoyJson(resource)).length, 0);
  return { ms: median(times), bytes, jsonBytes, resources: all.length };
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? "all";
  const proxy: GatewayProxy = { name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: 8080 }] };
  const resources = compileBench(1000, proxy);
  const encode = measureEncode(resources);
  console.log("| measure | value |\n|---|---|");
  console.log(`| encode 1,000 VirtualServices (${encode.resources} resources) JSON → protobuf, median of 5 | ${encode.ms.toFixed(1)} ms |`);
  console.log(`| protobuf bytes / JSON bytes | ${(encode.bytes / 1024).toFixed(0)} KiB / ${(encode.jsonBytes / 1024).toFixed(0)} KiB |`);
  if (mode === "encode") return;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
