import { Type } from "@sinclair/typebox";
import type { TSchema, TObject, TProperties, TUnsafe } from "@sinclair/typebox";

/*
 * Building blocks shared by the three kinds. Every helper emits JSON Schema that is already
 * structural in the Kubernetes sense (no `const`, no `patternProperties`, no `$ref`), so the same
 * schema feeds ajv and the CRD generator without a lossy translation step.
 */

/** Protobuf uint32 as Istio's CRDs write it. */
export const UInt32 = (description?: string) =>
  Type.Integer({ minimum: 0, maximum: 4294967295, ...(description ? { description } : {}) });

/** Protobuf int32. */
export const Int32 = (description?: string) =>
  Type.Integer({ minimum: -2147483648, maximum: 2147483647, ...(description ? { description } : {}) });

/** Protobuf uint64 (Istio accepts JSON numbers; the CRD types it as integer). */
export const UInt64 = (description?: string) =>
  Type.Integer({ minimum: 0, ...(description ? { description } : {}) });

/** google.protobuf.UInt32Value: a nullable uint32. */
export const UInt32Value = (description?: string, minimum = 0): TUnsafe<number | null> =>
  Type.Unsafe<number | null>({
    type: "integer",
    minimum,
    maximum: 4294967295,
    nullable: true,
    ...(description ? { description } : {}),
  });

/** google.protobuf.BoolValue: a nullable boolean. */
export const BoolValue = (description?: string): TUnsafe<boolean | null> =>
  Type.Unsafe<boolean | null>({ type: "boolean", nullable: true, ...(description ? { description } : {}) });

/**
 * google.protobuf.Duration. Kept a string here (Istio's CRD does the same); the syntax and the
 * >= 1ms / whole-millisecond rules are semantic validation, see parseDuration.
 */
export const Duration = (description?: string) =>
  Type.String({ description: description ?? "Duration such as 1s, 0.5s or 100ms." });

export const Str = (description?: string) => Type.String(description ? { description } : {});

export const StringList = (description?: string) => Type.Array(Type.String(), description ? { description } : {});

/** map<string, string>, written with additionalProperties as structural schemas require. */
export const StringMap = (description?: string): TUnsafe<Record<string, string>> =>
  Type.Unsafe<Record<string, string>>({
    type: "object",
    additionalProperties: { type: "string" },
    ...(description ? { description } : {}),
  });

/** map<string, T> for message values. */
export function MapOf<T extends TSchema>(value: T, description?: string): TUnsafe<Record<string, T["static"]>> {
  return Type.Unsafe<Record<string, T["static"]>>({
    type: "object",
    additionalProperties: value,
    ...(description ? { description } : {}),
  });
}

/** A protobuf enum: JSON `enum` (structural schemas have no `const`), TS a literal union. */
export function StringEnum<const Values extends readonly string[]>(
  values: Values,
  description?: string,
): TUnsafe<Values[number]> {
  return Type.Unsafe<Values[number]>({
    type: "string",
    enum: [...values],
    ...(description ? { description } : {}),
  });
}

/**
 * A protobuf `oneof`: at most one of the named fields may be set. Written exactly as Istio's CRDs
 * do (oneOf of `required` clauses plus a "none set" branch) because that form is structural.
 */
export function OneOfFields<P extends TProperties>(
  object: TObject<P>,
  ...groups: (readonly (keyof P & string)[])[]
): TObject<P> {
  const clauses = groups.map((fields) => ({
    oneOf: [
      { not: { anyOf: fields.map((f) => ({ required: [f] })) } },
      ...fields.map((f) => ({ required: [f] })),
    ],
  }));
  if (clauses.length === 1) {
    return { ...object, oneOf: clauses[0]?.oneOf } as TObject<P>;
  }
  return { ...object, allOf: clauses } as TObject<P>;
}

export const Opt = Type.Optional;
