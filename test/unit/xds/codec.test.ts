/**
 * JSON → protobuf → JSON over every resource of every golden case: the binary the ADS server
 * sends holds exactly what the compiler wrote (test/integration/xds compares with Envoy itself).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { envoyJson } from "../../../src/envoy/cluster.js";
import type { JsonValue } from "../../../src/envoy/resources.js";
import { ProtoCodec } from "../../../src/xds/codec.js";
import { goldenCases, outputKinds } from "../../golden/cases.js";

const codec = new ProtoCodec();

/**
 * Both sides as a proto3 JSON printer would give them: durations with 0, 3, 6 or 9 decimals,
 * 64-bit integers (strings) and numbers alike, nulls and empty repeated fields dropped.
 */
function canonical(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map((item) => canonical(item));
  if (typeof value === "string") {
    if (/^-?\d+$/.test(value)) return Number(value);
    const match = /^(\d+)\.(\d{1,9})s$/.exec(value);
    if (!match) return value;
    const digits = match[2]!.replace(/0+$/, "");
    return digits === "" ? `${match[1]}s` : `${match[1]}.${digits.padEnd(digits.length <= 3 ? 3 : digits.length <= 6 ? 6 : 9, "0")}s`;
  }
  if (value === null || typeof value !== "object") return value;
  const out: { [key: string]: JsonValue } = {};
  for (const [key, child] of Object.entries(value)) if (child !== null && !(Array.isArray(child) && child.length === 0)) out[key] = canonical(child);
  return out;
}

for (const golden of goldenCases()) {
  test(`round trip: ${golden.name}`, { skip: golden.skip }, () => {
    const result = golden.compile();
    for (const kind of outputKinds) {
      for (const resource of result.resources[kind]) {
        const json = envoyJson(resource);
        const any = codec.encodeAny(json);
        const back = codec.decodeAny(any.type_url, any.value);
        assert.deepEqual(canonical(back), canonical(json as JsonValue), `${kind} ${resource.name}`);
      }
    }
  });
}

test("an unknown field, enum value or @type is an error naming its path", () => {
  const listener = "type.googleapis.com/envoy.config.listener.v3.Listener";
  assert.throws(() => codec.encodeAny({ "@type": listener, name: "l", bogus: 1 }), /\$\.bogus: envoy.config.listener.v3.Listener has no field "bogus"/);
  assert.throws(() => codec.encodeAny({ "@type": listener, name: "l", traffic_direction: "SIDEWAYS" }), /\$\.traffic_direction: .* has no value SIDEWAYS/);
  assert.throws(() => codec.encodeAny({ "@type": "type.googleapis.com/nope.Nope", name: "x" }), /unknown type URL/);
});

test("well-known types in their JSON forms", () => {
  const cluster = {
    "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    name: "c",
    connect_timeout: "1.500s",
    per_connection_buffer_limit_bytes: 32768,
    metadata: { filter_metadata: { istio: { a: "b", n: 1, l: [true, null], o: { x: "y" } } } },
    common_lb_config: { healthy_panic_threshold: { value: 50 } },
  };
  const any = codec.encodeAny(cluster);
  assert.deepEqual(codec.decodeAny(any.type_url, any.value), cluster);
});
