/**
 * Proto3 JSON ⇄ protobuf binary for Envoy resources, exact for what the compiler writes: field
 * names in snake_case (or their lowerCamel JSON names), `@type` Anys, the well-known types in
 * their JSON forms (Duration "1.5s", Timestamp, Struct/Value/ListValue as plain JSON, wrappers
 * as bare values, FieldMask, Empty), enums by name, 64-bit integers as strings, bytes as base64.
 *
 * protobufjs' own `fromObject` knows none of the JSON forms but `@type` (and silently drops an
 * unknown field or enum name), so this walks the reflection itself and refuses anything it cannot
 * place: an unknown field, `@type` or enum name is an error naming its path, never a silent loss.
 */
import protobuf from "protobufjs";
import type { EnvoyJson, JsonValue } from "../envoy/resources.js";
import { envoyProtos } from "./protos.js";

type Obj = Record<string, unknown>;

const wrappers = new Set([
  ".google.protobuf.DoubleValue", ".google.protobuf.FloatValue", ".google.protobuf.Int64Value", ".google.protobuf.UInt64Value",
  ".google.protobuf.Int32Value", ".google.protobuf.UInt32Value", ".google.protobuf.BoolValue", ".google.protobuf.StringValue",
  ".google.protobuf.BytesValue",
]);

function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (name: string): string => name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

function parseDuration(value: unknown, path: string): Obj {
  const match = typeof value === "string" ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(value) : null;
  if (!match) throw new Error(`${path}: ${JSON.stringify(value)} is not a Duration ("1.5s")`);
  const sign = match[1] ? -1 : 1;
  const nanos = match[3] ? Number(match[3].padEnd(9, "0")) : 0;
  return { seconds: match[1] ? `-${match[2]}` : match[2], nanos: sign * nanos };
}

function formatDuration(seconds: number, nanos: number): string {
  const negative = seconds < 0 || nanos < 0;
  const s = Math.abs(seconds);
  const n = Math.abs(nanos);
  let fraction = "";
  if (n !== 0) {
    fraction = String(n).padStart(9, "0");
    fraction = n % 1_000_000 === 0 ? fraction.slice(0, 3) : n % 1000 === 0 ? fraction.slice(0, 6) : fraction;
    fraction = `.${fraction}`;
  }
  return `${negative ? "-" : ""}${s}${fraction}s`;
}

/** protobufjs bundles google.protobuf.Value with camelCase field names. */
function valueToPb(value: unknown): Obj {
  if (value === null) return { nullValue: "NULL_VALUE" };
  if (typeof value === "number") return { numberValue: value };
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(valueToPb) } };
  if (isObject(value)) return { structValue: structToPb(value) };
  throw new Error(`cannot encode ${typeof value} as google.protobuf.Value`);
}

function structToPb(value: Obj): Obj {
  const fields: Obj = {};
  for (const [key, child] of Object.entries(value)) fields[key] = valueToPb(child);
  return { fields };
}

function valueFromPb(value: Obj | undefined): JsonValue {
  if (!value) return null;
  if ("numberValue" in value) return value.numberValue as number;
  if ("stringValue" in value) return value.stringValue as string;
  if ("boolValue" in value) return value.boolValue as boolean;
  if ("listValue" in value) return (((value.listValue as Obj).values as Obj[] | undefined) ?? []).map(valueFromPb);
  if ("structValue" in value) return structFromPb(value.structValue as Obj);
  return null;
}

/** A decoded google.protobuf.Struct (protobufjs object form) → plain JSON. */
export function structFromPb(value: Obj | undefined): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const [key, child] of Object.entries((value?.fields as Record<string, Obj> | undefined) ?? {})) out[key] = valueFromPb(child);
  return out;
}

/** protobufjs computes `fullName` by walking parents on every read: cache it per type. */
const fullNames = new WeakMap<protobuf.ReflectionObject, string>();
function fullName(type: protobuf.ReflectionObject): string {
  let name = fullNames.get(type);
  if (name === undefined) {
    name = type.fullName;
    fullNames.set(type, name);
  }
  return name;
}

export class ProtoCodec {
  readonly root: protobuf.Root;
  readonly #types = new Map<string, protobuf.Type>();

  constructor(root: protobuf.Root = envoyProtos()) {
    this.root = root;
  }

  type(name: string): protobuf.Type {
    let type = this.#types.get(name);
    if (!type) {
      type = this.root.lookupType(name);
      this.#types.set(name, type);
    }
    return type;
  }

  /** The message type a type URL names; throws for one not loaded (see protos.ts). */
  typeOfUrl(url: string): protobuf.Type {
    const name = url.slice(url.lastIndexOf("/") + 1);
    try {
      return this.type(name);
    } catch {
      throw new Error(`unknown type URL ${url}: add its .proto to src/xds/protos.ts`);
    }
  }

  /** An Any in JSON form (`{"@type": url, ...fields}`) → { type_url, value: bytes }. */
  encodeAny(json: EnvoyJson, path = "$"): { type_url: string; value: Uint8Array } {
    const url = json["@type"];
    if (typeof url !== "string") throw new Error(`${path}: an Any needs "@type"`);
    const type = this.typeOfUrl(url);
    const { "@type": _type, ...rest } = json;
    const inner = this.#isWellKnown(type) ? rest.value : rest;
    return { type_url: url, value: this.encode(type, inner as JsonValue, path) };
  }

  encode(type: protobuf.Type, json: JsonValue, path = "$"): Uint8Array {
    const object = this.#toPb(type, json, path);
    return type.encode(type.fromObject(object)).finish();
  }

  /** Binary → proto3 JSON (the inverse of encodeAny; default scalars are left out). */
  decodeAny(typeUrl: string, bytes: Uint8Array): EnvoyJson {
    const type = this.typeOfUrl(typeUrl);
    const json = this.decode(type, bytes);
    return this.#isWellKnown(type) ? { "@type": typeUrl, value: json } : { "@type": typeUrl, ...(json as EnvoyJson) };
  }

  decode(type: protobuf.Type, bytes: Uint8Array): JsonValue {
    const object = type.toObject(type.decode(bytes), { longs: String, enums: String, bytes: String, defaults: false });
    return this.#fromPb(type, object);
  }

  #isWellKnown(type: protobuf.Type): boolean {
    return fullName(type).startsWith(".google.protobuf.");
  }

  #toPb(type: protobuf.Type, json: unknown, path: string): Obj {
    switch (fullName(type)) {
      case ".google.protobuf.Any":
        if (!isObject(json)) throw new Error(`${path}: an Any must be an object`);
        return this.encodeAny(json as EnvoyJson, path);
      case ".google.protobuf.Duration":
        return parseDuration(json, path);
      case ".google.protobuf.Timestamp": {
        const ms = typeof json === "string" ? Date.parse(json) : NaN;
        if (Number.isNaN(ms)) throw new Error(`${path}: ${JSON.stringify(json)} is not a Timestamp`);
        const fraction = /\.(\d{1,9})Z$/i.exec(json as string)?.[1] ?? "";
        return { seconds: String(Math.floor(ms / 1000)), nanos: Number(fraction.padEnd(9, "0")) || 0 };
      }
      case ".google.protobuf.Struct":
        if (!isObject(json)) throw new Error(`${path}: a Struct must be an object`);
        return structToPb(json);
      case ".google.protobuf.Value":
        return valueToPb(json);
      case ".google.protobuf.ListValue":
        if (!Array.isArray(json)) throw new Error(`${path}: a ListValue must be an array`);
        return { values: json.map(valueToPb) };
      case ".google.protobuf.FieldMask":
        return { paths: typeof json === "string" && json !== "" ? json.split(",").map(snake) : [] };
      case ".google.protobuf.Empty":
        return {};
    }
    if (wrappers.has(fullName(type))) return { value: this.#scalar(type.fields.value!, json, path) };
    if (!isObject(json)) throw new Error(`${path}: ${type.fullName.slice(1)} must be an object, not ${JSON.stringify(json)}`);
    const out: Obj = {};
    for (const [key, value] of Object.entries(json)) {
      const field = type.fields[key] ?? type.fields[snake(key)];
      const fieldPath = `${path}.${key}`;
      if (!field) throw new Error(`${fieldPath}: ${type.fullName.slice(1)} has no field "${key}"`);
      if (value === null && !(field.resolvedType && fullName(field.resolvedType) === ".google.protobuf.Value")) continue;
      if (field.map) {
        if (!isObject(value)) throw new Error(`${fieldPath}: a map must be an object`);
        const map: Obj = {};
        for (const [k, v] of Object.entries(value)) map[k] = this.#field(field, v, `${fieldPath}.${k}`);
        out[field.name] = map;
      } else if (field.repeated) {
        if (!Array.isArray(value)) throw new Error(`${fieldPath}: a repeated field must be an array`);
        out[field.name] = value.map((item, i) => this.#field(field, item, `${fieldPath}[${i}]`));
      } else {
        out[field.name] = this.#field(field, value, fieldPath);
      }
    }
    return out;
  }

  #field(field: protobuf.Field, value: unknown, path: string): unknown {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.#toPb(resolved, value, path);
    if (resolved instanceof protobuf.Enum) {
      if (typeof value === "string" && !(value in resolved.values)) throw new Error(`${path}: ${resolved.fullName.slice(1)} has no value ${value}`);
      return value;
    }
    return this.#scalar(field, value, path);
  }

  #scalar(field: protobuf.Field, value: unknown, path: string): unknown {
    switch (field.type) {
      case "double":
      case "float":
        if (value === "NaN" || value === "Infinity" || value === "-Infinity") return Number(value);
        if (typeof value !== "number") throw new Error(`${path}: expected a number`);
        return value;
      case "int32": case "uint32": case "sint32": case "fixed32": case "sfixed32":
      case "int64": case "uint64": case "sint64": case "fixed64": case "sfixed64": {
        const n = typeof value === "string" ? Number(value) : value;
        if (typeof n !== "number" || !Number.isInteger(n)) throw new Error(`${path}: expected an integer, got ${JSON.stringify(value)}`);
        return value;
      }
      case "bool":
        if (typeof value !== "boolean") throw new Error(`${path}: expected a boolean`);
        return value;
      case "string":
      case "bytes":
        if (typeof value !== "string") throw new Error(`${path}: expected a string`);
        return value;
    }
    return value;
  }

  #fromPb(type: protobuf.Type, object: unknown): JsonValue {
    switch (fullName(type)) {
      case ".google.protobuf.Any": {
        const any = object as Obj;
        const bytes = Buffer.from(String(any.value ?? ""), "base64");
        return this.decodeAny(String(any.type_url), bytes);
      }
      case ".google.protobuf.Duration": {
        const d = object as Obj;
        return formatDuration(Number(d.seconds ?? 0), Number(d.nanos ?? 0));
      }
      case ".google.protobuf.Timestamp": {
        const t = object as Obj;
        return new Date(Number(t.seconds ?? 0) * 1000 + Math.floor(Number(t.nanos ?? 0) / 1e6)).toISOString();
      }
      case ".google.protobuf.Struct":
        return structFromPb(object as Obj);
      case ".google.protobuf.Value":
        return valueFromPb(object as Obj);
      case ".google.protobuf.ListValue":
        return (((object as Obj).values as Obj[] | undefined) ?? []).map(valueFromPb);
      case ".google.protobuf.FieldMask":
        return (((object as Obj).paths as string[] | undefined) ?? []).map(camel).join(",");
      case ".google.protobuf.Empty":
        return {};
    }
    if (wrappers.has(fullName(type))) return ((object as Obj).value ?? (type.fullName.endsWith("BoolValue") ? false : type.fullName.endsWith("StringValue") || type.fullName.endsWith("BytesValue") ? "" : 0)) as JsonValue;
    const out: { [key: string]: JsonValue } = {};
    for (const [key, value] of Object.entries(object as Obj)) {
      const field = type.fields[key];
      if (!field) continue;
      const resolved = field.resolvedType;
      const one = (v: unknown): JsonValue => (resolved instanceof protobuf.Type ? this.#fromPb(resolved, v) : (v as JsonValue));
      if (field.map) {
        const map: { [key: string]: JsonValue } = {};
        for (const [k, v] of Object.entries(value as Obj)) map[k] = one(v);
        out[key] = map;
      } else if (field.repeated) {
        out[key] = (value as unknown[]).map(one);
      } else {
        out[key] = one(value);
      }
    }
    return out;
  }
}
