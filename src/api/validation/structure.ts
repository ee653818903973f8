import { Ajv } from "ajv";
import type { ErrorObject, ValidateFunction } from "ajv";
import { toValidationSchema } from "../generate/json-schema.js";
import { DestinationRuleSchema, GatewaySchema, VirtualServiceSchema } from "../schema/resources.js";
import type { IstioKind } from "../types.js";
import type { Finding } from "./findings.js";

/*
 * Structural validation: the same checks the apiserver makes from the CRD schema (types, enums,
 * required fields, oneOf) plus unknown fields, compiled by ajv from the single schema source.
 */

// "binary" (base64 bytes) and "double" are documentation formats in Istio's schema; the type is what is checked.
// `verbose` keeps each error's schema, which names the fields of a violated oneOf.
const ajv = new Ajv({ allErrors: true, strict: false, verbose: true, formats: { binary: true, double: true } });
const validators: Record<IstioKind, ValidateFunction> = {
  Gateway: ajv.compile(toValidationSchema(GatewaySchema)),
  VirtualService: ajv.compile(toValidationSchema(VirtualServiceSchema)),
  DestinationRule: ajv.compile(toValidationSchema(DestinationRuleSchema)),
};

/** `/spec/servers/0/port` → `spec.servers[0].port` */
export function pointerToPath(pointer: string): string {
  let path = "";
  for (const raw of pointer.split("/").slice(1)) {
    const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^\d+$/.test(part)) path += `[${part}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(part)) path += path === "" ? part : `.${part}`;
    else path += `[${JSON.stringify(part)}]`;
  }
  return path;
}

function describe(error: ErrorObject): { path: string; message: string } | undefined {
  const base = pointerToPath(error.instancePath);
  const join = (field: string) => (base === "" ? field : `${base}.${field}`);
  switch (error.keyword) {
    case "additionalProperties": {
      const field = String((error.params as { additionalProperty: string }).additionalProperty);
      return { path: join(field), message: `unknown field "${field}": check the spelling against Istio's API reference` };
    }
    case "required": {
      const field = String((error.params as { missingProperty: string }).missingProperty);
      return { path: join(field), message: `required field "${field}" is missing` };
    }
    case "type":
      return { path: base, message: `must be of type ${String((error.params as { type: string }).type)}` };
    case "enum":
      return { path: base, message: `unsupported value: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(", ")}` };
    case "minimum":
    case "maximum":
      return { path: base, message: `must be ${error.keyword === "minimum" ? ">=" : "<="} ${String((error.params as { limit: number }).limit)}` };
    case "oneOf": {
      const fields = ((error.schema as { required?: string[] }[] | undefined) ?? []).flatMap((s) => s.required ?? []);
      const data = (error.data ?? {}) as Record<string, unknown>;
      const present = fields.filter((field) => data[field] !== undefined);
      const found = present.length > 1 ? `, found ${present.join(" and ")}` : "";
      return { path: base, message: `only one of ${fields.join(", ") || "these fields"} may be set${found}: keep one` };
    }
    case "maxItems":
      return { path: base, message: `must have at most ${String((error.params as { limit: number }).limit)} items` };
    default:
      return { path: base, message: error.message ?? "is invalid" };
  }
}

export function structuralFindings(kind: IstioKind, document: unknown): Finding[] {
  const validate = validators[kind];
  if (validate(document)) return [];
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    // Branch failures inside a oneOf only explain the oneOf error itself.
    if (/\/(oneOf|anyOf|not)\//.test(error.schemaPath)) continue;
    const described = describe(error);
    if (!described) continue;
    const id = `${described.path}\u0000${described.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    findings.push({ severity: "error", ...described });
  }
  return findings;
}
