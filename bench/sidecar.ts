/**
 * Sidecar config size (run on purpose, not a test; issue 12): one injected workload's compiled
 * config when the mesh has N Services (HTTP port 80 and a TCP port 9000 each, two endpoints, a
 * mesh VirtualService with a 1 s timeout for every tenth), and the same when only a tenth of them
 * is exported to the workload's namespace (`networking.istio.io/exportTo`). Prints a table of
 * compile time and JSON bytes per resource type.
 *
 *   npx tsx bench/sidecar.ts [N...]      # default 100 1000
 */
import { compileSidecar } from "../src/compile/sidecar/compile.js";
import type { SidecarProxy } from "../src/compile/sidecar/compile.js";
import type { VirtualService } from "../src/api/index.js";
import type { EndpointSlice, Service } from "../src/model/kube.js";
import { buildSnapshot } from "../src/model/snapshot.js";

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const proxy: SidecarProxy = { name: "client", namespace: "client", labels: { app: "client" }, ports: [{ port: 8080, name: "http" }] };

function inputs(size: number, exportedShare: number): { services: Service[]; endpointSlices: EndpointSlice[]; virtualServices: VirtualService[] } {
  const services: Service[] = [];
  const endpointSlices: EndpointSlice[] = [];
  const virtualServices: VirtualService[] = [];
  for (let i = 0; i < size; i++) {
    const name = `svc-${i}`;
    const namespace = `ns-${i % 50}`;
    const exported = i % Math.round(1 / exportedShare) === 0;
    services.push({
      metadata: { name, namespace, ...(exported ? {} : { annotations: { "networking.istio.io/exportTo": "." } }) },
      spec: { clusterIP: `198.18.${(i >> 8) & 255}.${i & 255}`, selector: { app: name }, ports: [{ name: "http", port: 80, targetPort: 8080 }, { name: "tcp-admin", port: 9000, targetPort: 9000 }] },
    });
    endpointSlices.push({
      metadata: { name: `${name}-a`, namespace, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080 }, { name: "tcp-admin", port: 9000 }],
      endpoints: [1, 2].map((host) => ({ addresses: [`10.${(i >> 8) & 255}.${i & 255}.${host}`], conditions: { ready: true } })),
    });
    if (i % 10 === 0) {
      virtualServices.push({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name, namespace }, spec: { hosts: [name], http: [{ timeout: "1s", route: [{ destination: { host: name } }] }] } });
    }
  }
  return { services, endpointSlices, virtualServices };
}

console.log("| services | exported to the sidecar | compile ms (median of 5) | listeners | LDS bytes | RDS bytes | CDS bytes | EDS bytes | total bytes |");
console.log("|---|---|---|---|---|---|---|---|---|");
for (const size of sizes.length > 0 ? sizes : [100, 1000]) {
  for (const share of [1, 0.1]) {
    const given = inputs(size, share);
    const snapshot = buildSnapshot(given);
    const times: number[] = [];
    let result = compileSidecar(snapshot, proxy, given.services);
    for (let run = 0; run < 5; run++) {
      const started = performance.now();
      result = compileSidecar(snapshot, proxy, given.services);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const bytes = (list: readonly unknown[]): number => Buffer.byteLength(JSON.stringify(list));
    const r = result.resources;
    const sizesByType = [bytes(r.listeners), bytes(r.routes), bytes(r.clusters), bytes(r.endpoints)];
    const total = sizesByType.reduce((a, b) => a + b, 0);
    console.log(`| ${size} | ${share === 1 ? "all" : "a tenth (the rest exportTo .)"} | ${(times[2] ?? 0).toFixed(1)} | ${r.listeners.length} | ${sizesByType.join(" | ")} | ${total} |`);
  }
}
