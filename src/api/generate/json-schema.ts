import type { TSchema } from "@sinclair/typebox";

/** A JSON Schema as plain data (TypeBox's symbol keys dropped). */
export type JsonSchema = { [key: string]: unknown };

/** Deep copy that keeps only JSON data: drops TypeBox's symbol-keyed metadata. */
export function plainSchema(schema: TSchema | JsonSchema): JsonSchema {
  return JSON.parse(JSON.stringify(schema)) as JsonSchema;
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Walks a schema bottom-up, applying `visit` to every sub-schema (properties, items,
 * additionalProperties, and the oneOf/anyOf/allOf/not combinators).
 */
export function mapSchema(schema: JsonSchema, visit: (node: JsonSchema) => JsonSchema): JsonSchema {
  const out: JsonSchema = { ...schema };
  if (isObject(out.properties)) {
    const properties: JsonSchema = {};
    for (const [name, child] of Object.entries(out.properties)) {
      properties[name] = isObject(child) ? mapSchema(child, visit) : child;
    }
    out.properties = properties;
  }
  if (isObject(out.items)) out.items = mapSchema(out.items, visit);
  if (isObject(out.additionalProperties)) out.additionalProperties = mapSchema(out.additionalProperties, visit);
  for (const combinator of ["oneOf", "anyOf", "allOf"] as const) {
    const list = out[combinator];
    if (Array.isArray(list)) out[combinator] = list.map((c: unknown) => (isObject(c) ? mapSchema(c, visit) : c));
  }
  if (isObject(out.not)) out.not = mapSchema(out.not, visit);
  return visit(out);
}

/**
 * The schema ajv compiles: like the apiserver with field validation Strict (kubectl's default),
 * an unknown field is an error, so every object with declared properties gets
 * additionalProperties: false unless Istio keeps it free-form.
 */
export function toValidationSchema(schema: TSchema): JsonSchema {
  return mapSchema(plainSchema(schema), (node) => {
    if (node.type === "object" && isObject(node.properties) && node["x-kubernetes-preserve-unknown-fields"] !== true && node.additionalProperties === undefined) {
      return { ...node, additionalProperties: false };
    }
    return node;
  });
}
