/**
 * Reading Envoy JSON that came from outside the type system (a config dump, compiled resources
 * typed as JsonValue): small total accessors, so a tracer never throws on a field it did not expect.
 */
import type { EnvoyJson, JsonValue } from "../envoy/resources.js";

export function asObject(value: JsonValue | undefined): EnvoyJson | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value : undefined;
}

export function asObjects(value: JsonValue | undefined): EnvoyJson[] {
  if (!Array.isArray(value)) return [];
  const out: EnvoyJson[] = [];
  for (const item of value) {
    const object = asObject(item);
    if (object) out.push(object);
  }
  return out;
}

export function asString(value: JsonValue | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function asStrings(value: JsonValue | undefined): string[] {
  return Array.isArray(value) ? value.flatMap((item) => (typeof item === "string" ? [item] : [])) : [];
}

/** Numbers, and the strings protobuf JSON uses for 64-bit integers. */
export function asNumber(value: JsonValue | undefined): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^-?\d+$/.test(value)) return Number(value);
  return undefined;
}

export function asBoolean(value: JsonValue | undefined): boolean | undefined {
  return typeof value === "boolean" ? value : undefined;
}

/** A nested field by path: at(x, "a", "b") is x.a.b when every step is an object. */
export function at(value: JsonValue | undefined, ...path: string[]): JsonValue | undefined {
  let current: JsonValue | undefined = value;
  for (const key of path) {
    const object = asObject(current);
    if (!object) return undefined;
    current = object[key];
  }
  return current;
}
