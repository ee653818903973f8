/**
 * The fan-out bench's load: N scripted SotW ADS clients in their own process (so the server's
 * CPU and memory figures are its own), each on its own HTTP/2 connection, as N Envoys would be.
 * Each subscribes to CDS and LDS (wildcard) and to the RDS/EDS names the bench gives it (a JSON
 * file: what Envoy would ask for once its listeners and clusters arrive), and ACKs every response
 * after decoding its resources (as Envoy does). Run by bench/ads.ts:
 *
 *   node --import tsx bench/ads-load-client.ts <host:port> <clients> <names.json>
 *
 * Prints `connected <n>` once every stream is open; stops on SIGTERM.
 */
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { ProtoCodec } from "../src/xds/codec.js";

const typeUrl = {
  CDS: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  EDS: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  LDS: "type.googleapis.com/envoy.config.listener.v3.Listener",
  RDS: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
};

const codec = new ProtoCodec();
const requestType = codec.type("envoy.service.discovery.v3.DiscoveryRequest");
const responseType = codec.type("envoy.service.discovery.v3.DiscoveryResponse");

interface Response {
  version_info: string;
  nonce: string;
  type_url: string;
  resources: Array<{ type_url: string; value: Uint8Array }>;
}

/** Named subscriptions (RDS, EDS): what Envoy asks for once its listeners and clusters arrive. */
interface Names {
  RDS: string[];
  EDS: string[];
}

function client(address: string, id: number, names: Names): { close(): void } {
  const connection = new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": -1, "grpc.use_local_subchannel_pool": 1 });
  const call = connection.makeBidiStreamRequest(
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
    (bytes: Uint8Array) => Buffer.from(bytes),
    (bytes: Buffer) => bytes,
  );
  const send = (message: Record<string, unknown>): void => void call.write(requestType.encode(requestType.fromObject(message)).finish());
  call.on("data", (bytes: Buffer) => {
    const response = responseType.decode(bytes) as unknown as Response;
    // Every resource is decoded into its message, as a proxy must before it can ACK.
    for (const resource of response.resources) codec.typeOfUrl(resource.type_url).decode(resource.value);
    const kind = (Object.entries(typeUrl).find(([, url]) => url === response.type_url)?.[0] ?? "") as keyof typeof typeUrl | "";
    send({ type_url: response.type_url, version_info: response.version_info, response_nonce: response.nonce, resource_names: kind === "EDS" || kind === "RDS" ? names[kind] : [] });
  });
  call.on("error", () => undefined);
  const node = { id: `router~127.0.0.1~istio-ingressgateway-bench-${id}.istio-system~istio-system.svc.cluster.local`, metadata: {} };
  send({ node, type_url: typeUrl.CDS });
  send({ type_url: typeUrl.EDS, resource_names: names.EDS });
  send({ type_url: typeUrl.LDS });
  send({ type_url: typeUrl.RDS, resource_names: names.RDS });
  return {
    close: () => {
      call.end();
      connection.close();
    },
  };
}

const [address, count, namesFile] = [process.argv[2]!, Number(process.argv[3] ?? 100), process.argv[4]!];
const names = JSON.parse(readFileSync(namesFile, "utf8")) as Names;
const clients = Array.from({ length: count }, (_, id) => client(address, id, names));
process.stdout.write(`connected ${clients.length}\n`);
const keepAlive = setInterval(() => undefined, 60_000);
process.on("SIGTERM", () => {
  clearInterval(keepAlive);
  for (const each of clients) each.close();
  process.exit(0);
});
