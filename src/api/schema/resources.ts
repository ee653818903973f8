import { Type } from "@sinclair/typebox";
import type { TObject, TSchema } from "@sinclair/typebox";
import { Opt, Str, StringEnum, StringMap } from "./common.js";
import { DestinationRuleSpecSchema } from "./destination-rule.js";
import { GatewaySpecSchema } from "./gateway.js";
import { VirtualServiceSpecSchema } from "./virtual-service.js";

export const GROUP = "networking.istio.io";
/** Served versions, oldest first; all share one schema (conversion None), v1 is stored. */
export const VERSIONS = ["v1alpha3", "v1beta1", "v1"] as const;
export const STORAGE_VERSION = "v1";
export const API_VERSIONS = VERSIONS.map((v) => `${GROUP}/${v}` as const);

/** The subset of Kubernetes ObjectMeta that pilotfish reads. */
export const ObjectMetaSchema = Type.Object({
  name: Str(),
  namespace: Opt(Str()),
  labels: Opt(StringMap()),
  annotations: Opt(StringMap()),
  generation: Opt(Type.Integer()),
  resourceVersion: Opt(Str()),
  uid: Opt(Str()),
  creationTimestamp: Opt(Str()),
});

export const IstioConditionSchema = Type.Object({
  type: Opt(Str("Type is the type of the condition.")),
  status: Opt(Str("Status is the status of the condition: True, False or Unknown.")),
  lastProbeTime: Opt(Str()),
  lastTransitionTime: Opt(Str()),
  reason: Opt(Str("Unique, one-word, CamelCase reason for the condition's last transition.")),
  message: Opt(Str("Human-readable message indicating details about last transition.")),
  observedGeneration: Opt(Type.Integer()),
});

/**
 * Istio's CRDs keep status free-form (x-kubernetes-preserve-unknown-fields), so the CRD generator
 * replaces this schema by exactly that; TypeScript still sees the fields pilotfish writes.
 */
export const IstioStatusSchema = Type.Object(
  {
    conditions: Opt(Type.Array(IstioConditionSchema)),
    validationMessages: Opt(Type.Array(Type.Object({ level: Opt(Str()), type: Opt(Type.Object({ code: Opt(Str()), name: Opt(Str()) })), documentationUrl: Opt(Str()) }))),
    observedGeneration: Opt(Type.Integer()),
  },
  { "x-kubernetes-preserve-unknown-fields": true },
);

function resource<const K extends string, S extends TSchema>(kind: K, spec: S) {
  return Type.Object({
    apiVersion: StringEnum(API_VERSIONS),
    kind: StringEnum([kind] as const),
    metadata: ObjectMetaSchema,
    spec,
    status: Opt(IstioStatusSchema),
  });
}

export const GatewaySchema = resource("Gateway", GatewaySpecSchema);
export const VirtualServiceSchema = resource("VirtualService", VirtualServiceSpecSchema);
export const DestinationRuleSchema = resource("DestinationRule", DestinationRuleSpecSchema);

export interface PrinterColumn {
  name: string;
  type: "string" | "date" | "integer";
  jsonPath: string;
  description: string;
}

/** Everything the CRD generator needs about one kind, next to the schema it came from. */
export interface KindDefinition {
  kind: "Gateway" | "VirtualService" | "DestinationRule";
  plural: string;
  singular: string;
  listKind: string;
  shortNames: string[];
  spec: TObject;
  printerColumns: PrinterColumn[];
  description: string;
}

const AGE_COLUMN: PrinterColumn = {
  name: "Age",
  type: "date",
  jsonPath: ".metadata.creationTimestamp",
  description:
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC. Populated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/api-conventions.md#metadata",
};

/** Printer columns from the status pilotfish writes (docs/status.md). */
const conditionColumn = (type: "Accepted" | "Programmed", description: string): PrinterColumn => ({
  name: type,
  type: "string",
  jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
  description,
});
const PROGRAMMED_COLUMN = conditionColumn("Programmed", "Whether pilotfish published this resource to at least one gateway proxy");
const ACCEPTED_COLUMN = conditionColumn("Accepted", "Whether the resource is valid and bound (selects a gateway proxy, names an existing Gateway)");

export const KINDS: readonly KindDefinition[] = [
  {
    kind: "DestinationRule",
    plural: "destinationrules",
    singular: "destinationrule",
    listKind: "DestinationRuleList",
    shortNames: ["dr"],
    spec: DestinationRuleSpecSchema,
    printerColumns: [
      { name: "Host", type: "string", jsonPath: ".spec.host", description: "The name of a service from the service registry" },
      PROGRAMMED_COLUMN,
      AGE_COLUMN,
    ],
    description: "Configuration affecting load balancing, outlier detection, etc.",
  },
  {
    kind: "Gateway",
    plural: "gateways",
    singular: "gateway",
    listKind: "GatewayList",
    shortNames: ["gw"],
    spec: GatewaySpecSchema,
    printerColumns: [ACCEPTED_COLUMN, PROGRAMMED_COLUMN, AGE_COLUMN],
    description: "Configuration affecting edge load balancer.",
  },
  {
    kind: "VirtualService",
    plural: "virtualservices",
    singular: "virtualservice",
    listKind: "VirtualServiceList",
    shortNames: ["vs"],
    spec: VirtualServiceSpecSchema,
    printerColumns: [
      { name: "Gateways", type: "string", jsonPath: ".spec.gateways", description: "The names of gateways and sidecars that should apply these routes" },
      { name: "Hosts", type: "string", jsonPath: ".spec.hosts", description: "The destination hosts to which traffic is being sent" },
      PROGRAMMED_COLUMN,
      AGE_COLUMN,
    ],
    description: "Configuration affecting label/content routing, sni routing, etc.",
  },
];

export const CATEGORIES = ["istio-io", "networking-istio-io"];
