import { API_VERSIONS, GROUP } from "../schema/resources.js";
import type { DestinationRule, Gateway, IstioKind, VirtualService } from "../types.js";
import { validateDestinationRuleSpec } from "./destination-rule.js";
import { Findings } from "./findings.js";
import type { Finding } from "./findings.js";
import { validateGatewaySpec } from "./gateway.js";
import { isDnsLabel } from "./names.js";
import { structuralFindings } from "./structure.js";
import { validateVirtualServiceSpec } from "./virtual-service.js";

export type { Finding } from "./findings.js";
export { hasErrors } from "./findings.js";
export { validateGatewaySpec } from "./gateway.js";
export { validateVirtualServiceSpec } from "./virtual-service.js";
export { validateDestinationRuleSpec } from "./destination-rule.js";

const SUPPORTED_KINDS: readonly string[] = ["Gateway", "VirtualService", "DestinationRule"];

/** Istio kinds pilotfish recognises but does not implement yet. */
const ISTIO_GROUP_SUFFIX = ".istio.io";

export type Classification =
  | { type: "supported"; kind: IstioKind }
  | { type: "unsupported-istio"; kind: string; apiVersion: string }
  | { type: "other"; kind: string; apiVersion: string }
  | { type: "not-a-manifest" };

/** Decides what a parsed YAML document is, from apiVersion and kind only. */
export function classify(document: unknown): Classification {
  if (typeof document !== "object" || document === null || Array.isArray(document)) return { type: "not-a-manifest" };
  const { apiVersion, kind } = document as { apiVersion?: unknown; kind?: unknown };
  if (typeof apiVersion !== "string" || typeof kind !== "string") return { type: "not-a-manifest" };
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
  if (group === GROUP && SUPPORTED_KINDS.includes(kind)) return { type: "supported", kind: kind as IstioKind };
  if (group.endsWith(ISTIO_GROUP_SUFFIX)) return { type: "unsupported-istio", kind, apiVersion };
  return { type: "other", kind, apiVersion };
}

/**
 * Validates one Gateway, VirtualService or DestinationRule like Istio does: first the schema
 * (what the apiserver would reject), then, if the shape is right, Istio's semantic rules.
 * Pure: no I/O, no clock.
 */
export function validateResource(document: unknown): Finding[] {
  const classification = classify(document);
  if (classification.type !== "supported") {
    return [{ severity: "error", path: "kind", message: "not a networking.istio.io Gateway, VirtualService or DestinationRule" }];
  }
  const apiVersion = (document as { apiVersion: string }).apiVersion;
  if (!(API_VERSIONS as readonly string[]).includes(apiVersion)) {
    return [{ severity: "error", path: "apiVersion", message: `unsupported version "${apiVersion}": use ${API_VERSIONS.join(", ")}` }];
  }
  const structural = structuralFindings(classification.kind, document);
  if (structural.length > 0) return structural;
  const out = new Findings();
  switch (classification.kind) {
    case "Gateway": {
      // validation.go ValidateGateway: the name must be a DNS-1123 label (no dots), unlike other kinds.
      const name = (document as Gateway).metadata?.name;
      if (typeof name === "string" && !isDnsLabel(name)) out.error("metadata.name", `Gateway name "${name}" must be a DNS-1123 label (letters, digits and '-', no dots)`);
      validateGatewaySpec((document as Gateway).spec, out);
      break;
    }
    case "VirtualService":
      validateVirtualServiceSpec((document as VirtualService).spec, out);
      break;
    case "DestinationRule":
      validateDestinationRuleSpec((document as DestinationRule).spec, out);
      break;
  }
  return out.list;
}
