/**
 * Envoy's protos, loaded at run time with protobufjs from the copies `@grpc/grpc-js-xds` ships
 * (deps/envoy-api, xds, googleapis, protoc-gen-validate): the discovery service plus every message
 * the compiler can put in an xDS resource or an Any (`typed_config`). A type the compiler starts
 * using must be added to `protoFiles`; encoding a resource with an unknown `@type` throws.
 * See docs/adr/0005-xds-protos.md.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";

export const protoFiles = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/service/discovery/v3/discovery.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/transport_sockets/tls/v3/secret.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/fault/v3/fault.proto",
  "envoy/extensions/filters/http/cors/v3/cors.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto",
  "envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "google/rpc/status.proto",
];

let loaded: protobuf.Root | undefined;

function depsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
}

/** The protobufjs root with every file in protoFiles (loaded once, synchronously: ~0.3-1 s). */
export function envoyProtos(): protobuf.Root {
  if (loaded) return loaded;
  const deps = depsDir();
  const require = createRequire(import.meta.url);
  // descriptor.proto (imported by the annotations) ships with protobufjs, not in its bundled set.
  const includes = [...["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((dir) => join(deps, dir)), dirname(require.resolve("protobufjs/package.json"))];
  const bundled = protobuf.common as unknown as Record<string, unknown>;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (target in bundled) return target; // protobufjs bundles most well-known types
    for (const include of includes) {
      const candidate = join(include, target);
      if (protobuf.util.fs && (protobuf.util.fs as { existsSync(path: string): boolean }).existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync(protoFiles, { keepCase: true });
  root.resolveAll();
  loaded = root;
  return root;
}
