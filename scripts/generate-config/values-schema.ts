/**
 * The chart's values as a schema: the source of charts/pilotfish/values.schema.json, which Helm
 * checks on install, upgrade, template and lint. Closed objects (additionalProperties: false) so
 * a misspelt value fails with its name instead of being ignored.
 */
import { Type } from "@sinclair/typebox";
import type { TProperties, TSchema } from "@sinclair/typebox";

const closed = <T extends TProperties>(properties: T, description?: string) =>
  Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) });

/** An enum (helm prints "value must be one of ..." with the field's path; anyOf of literals is noisier). */
const oneOf = (values: readonly string[], description?: string) => Type.Unsafe<string>({ type: "string", enum: values, ...(description ? { description } : {}) });

const kubernetesName = Type.String({ pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength: 63, description: "a DNS-1123 label" });
const port = Type.Integer({ minimum: 1, maximum: 65535 });
/** Free-form Kubernetes structures the chart passes through (resources, affinity, tolerations). */
const object = (description: string): TSchema => Type.Object({}, { additionalProperties: true, description });
const stringMap = (description: string): TSchema => Type.Record(Type.String(), Type.String(), { description });

const image = (description: string) =>
  closed(
    {
      repository: Type.String({ minLength: 1, description: "image repository, e.g. pilotfish/operator or registry.example/pilotfish/operator" }),
      tag: Type.String({ description: "tag; empty = the chart's appVersion" }),
      digest: Type.String({ pattern: "^(sha256:[a-f0-9]{64})?$", description: "sha256:<64 hex>; wins over tag when set" }),
      pullPolicy: oneOf(["IfNotPresent", "Always", "Never"]),
    },
    description,
  );

const logLevel = oneOf(["trace", "debug", "info", "warn", "error", "critical", "off"], "Envoy's --log-level");

export const valuesSchema = closed({
  images: closed({
    operator: image("the operator (pilotfish operator)"),
    proxy: image("Envoy: the gateway's istio-proxy and injected sidecars"),
    proxyInit: image("the injected istio-init container"),
  }),
  operator: closed({
    replicas: Type.Integer({ minimum: 1, maximum: 10, description: "more than 1 needs leaderElection" }),
    leaderElection: Type.Boolean({ description: "--leader-elect: one replica writes, the others stand by" }),
    logLevel: oneOf(["error", "warn", "info", "debug"]),
    logFormat: oneOf(["json", "text"]),
    accessLogFile: Type.String({ description: "Istio's meshConfig.accessLogFile for gateway Envoys, e.g. /dev/stdout; empty = none" }),
    resources: object("the operator container's resources"),
    podDisruptionBudget: closed({ enabled: Type.Boolean(), minAvailable: Type.Integer({ minimum: 0 }) }),
    affinity: object("replaces the default soft anti-affinity"),
    nodeSelector: stringMap("node labels the operator pods need"),
    tolerations: Type.Array(object("a toleration")),
    podAnnotations: stringMap("annotations on the operator pods"),
    priorityClassName: Type.String(),
    extraArgs: Type.Array(Type.String({ pattern: "^-" }), { description: "more `pilotfish operator` flags" }),
  }),
  rbac: closed({
    secretsNamespaces: Type.Array(kubernetesName, { uniqueItems: true, description: "empty = Secrets readable cluster-wide; else only in these namespaces" }),
  }),
  webhook: closed({
    enabled: Type.Boolean({ description: "sidecar injection and validation webhooks" }),
    validationFailurePolicy: oneOf(["Ignore", "Fail"]),
    certManager: closed(
      {
        enabled: Type.Boolean({ description: "cert-manager issues the webhook's serving certificate and injects caBundle (the operator issues and patches nothing)" }),
        issuerRef: closed(
          {
            name: Type.String({ description: "an Issuer or ClusterIssuer; empty = a self-signed Issuer rendered by the chart" }),
            kind: oneOf(["Issuer", "ClusterIssuer"]),
            group: Type.String({ minLength: 1 }),
          },
          "cert-manager's issuerRef for the webhook's Certificate",
        ),
        duration: Type.String({ pattern: "^([0-9]+(\\.[0-9]+)?(h|m|s))+$", description: "the certificate's lifetime, e.g. 2160h" }),
        renewBefore: Type.String({ pattern: "^([0-9]+(\\.[0-9]+)?(h|m|s))+$", description: "renew this long before expiry, e.g. 720h" }),
      },
      "the webhook's certificate from cert-manager",
    ),
  }),
  xds: closed({
    enabled: Type.Boolean({ description: "serve ADS for proxies on the operator Service" }),
    port,
    plaintext: Type.Boolean({ description: "plaintext ADS off loopback (trusted networks only)" }),
  }),
  gateway: closed({
    enabled: Type.Boolean({ description: "the istio-ingressgateway Deployment and Service" }),
    name: kubernetesName,
    mode: oneOf(["files", "agent", "ads"], "how the gateway gets its config: files (published objects mounted), agent (the pilotfish agent sidecar), ads (the operator's ADS)"),
    agentUpstream: Type.String({ description: "agent mode: the operator's ADS as host:port; empty = pilotfish.<namespace>.svc:<xds.port>" }),
    agentResources: object("the pilotfish-agent container's resources (mode agent)"),
    replicas: Type.Integer({ minimum: 0 }),
    logLevel,
    configDir: Type.String({ pattern: "^/[^\\s]*[^/\\s]$", description: "absolute path without a trailing slash" }),
    resources: object("the istio-proxy container's resources"),
    autoscaling: closed({
      enabled: Type.Boolean(),
      minReplicas: Type.Integer({ minimum: 1 }),
      maxReplicas: Type.Integer({ minimum: 1 }),
      targetCPUUtilizationPercentage: Type.Integer({ minimum: 1, maximum: 100 }),
    }),
    podAnnotations: stringMap("annotations on the gateway pods"),
    nodeSelector: stringMap("node labels the gateway pods need"),
    tolerations: Type.Array(object("a toleration")),
    affinity: object("the gateway pods' affinity"),
    service: closed({
      type: oneOf(["NodePort", "LoadBalancer", "ClusterIP"]),
      externalTrafficPolicy: oneOf(["Local", "Cluster"]),
      annotations: stringMap("annotations on the Service (cloud load balancer settings)"),
      loadBalancerIP: Type.String(),
      loadBalancerSourceRanges: Type.Array(Type.String()),
      ports: Type.Array(
        closed({
          name: kubernetesName,
          port,
          targetPort: port,
          nodePort: Type.Integer({ minimum: 0, maximum: 32767, description: "0 = Kubernetes picks one" }),
        }),
        { minItems: 1 },
      ),
    }),
  }),
});

export const valuesSchemaPath = "charts/pilotfish/values.schema.json";

/** values.schema.json's text. */
export function renderValuesSchema(): string {
  const document = {
    $schema: "http://json-schema.org/draft-07/schema#",
    $comment: "Generated by `make generate-config` from scripts/generate-config/values-schema.ts; do not edit by hand.",
    title: "pilotfish chart values",
    ...(JSON.parse(JSON.stringify(valuesSchema)) as object),
  };
  return JSON.stringify(document, null, 2) + "\n";
}
