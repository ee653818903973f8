/**
 * The chart, rendered offline by the bench's real helm: config/ and values.schema.json are what
 * the chart and its values schema generate (run `make generate-config` when this fails), the
 * CRDs in crds/ are config/crd's, bad values fail with the field's name, and every object the
 * chart renders carries the labels and the pod hardening issue 14 asks for.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadAll } from "js-yaml";
import { chartDir, configFolders, helmTemplate, kubeVersion, renderConfig } from "../../../scripts/generate-config/render.js";
import { renderValuesSchema, valuesSchemaPath } from "../../../scripts/generate-config/values-schema.js";
import { benchTool, repoRoot } from "../../support/paths.js";

interface Container {
  name: string;
  image: string;
  args?: string[];
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
  livenessProbe?: { httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
}
interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
  containers: Container[];
  affinity?: { podAntiAffinity?: unknown };
  volumes?: unknown[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: { replicas?: number; type?: string; template?: { metadata: { labels: Record<string, string> }; spec: PodSpec }; ports?: { nodePort?: number; port: number }[] };
}

const objects = (rendered: string): K8sObject[] => (loadAll(rendered) as (K8sObject | null)[]).filter((object): object is K8sObject => object !== null);
const find = (list: K8sObject[], kind: string, name: string): K8sObject => {
  const found = list.find((object) => object.kind === kind && object.metadata.name === name);
  assert.ok(found, `${kind} ${name} rendered`);
  return found;
};
/** helm template with these arguments, expected to fail: its stderr. */
const refused = (...args: string[]): string => {
  const result = spawnSync(benchTool("helm"), ["template", "pilotfish", chartDir, "-n", "istio-system", "--kube-version", kubeVersion, ...args], { encoding: "utf8" });
  assert.notEqual(result.status, 0, `helm template ${args.join(" ")} must fail`);
  return result.stderr;
};

describe("charts/pilotfish and the config/ generated from it", () => {
  const generated = renderConfig();

  for (const [path, content] of generated) {
    it(`${path} is the chart rendered with its defaults (run 'make generate-config' if this fails)`, () => {
      const full = join(repoRoot, path);
      assert.ok(existsSync(full), `${path} is missing: run 'make generate-config'`);
      assert.equal(readFileSync(full, "utf8"), content, `${path} is stale: run 'make generate-config'`);
    });
  }

  it("config/{rbac,operator,webhook,gateway} hold no YAML the chart does not render", () => {
    for (const folder of configFolders) {
      const onDisk = readdirSync(join(repoRoot, "config", folder), { recursive: true, encoding: "utf8" }).filter((name) => name.endsWith(".yaml")).map((name) => `config/${folder}/${name}`).sort();
      assert.deepEqual(onDisk, [...generated.keys()].filter((path) => path.startsWith(`config/${folder}/`)).sort());
    }
  });

  it("values.schema.json is what scripts/generate-config/values-schema.ts generates", () => {
    assert.equal(readFileSync(join(repoRoot, valuesSchemaPath), "utf8"), renderValuesSchema(), "stale: run 'make generate-config'");
  });

  it("crds/ holds exactly config/crd's CRDs, byte for byte", () => {
    const chartCrds = readdirSync(join(chartDir, "crds")).sort();
    assert.deepEqual(chartCrds, readdirSync(join(repoRoot, "config", "crd")).sort());
    for (const name of chartCrds) assert.equal(readFileSync(join(chartDir, "crds", name), "utf8"), readFileSync(join(repoRoot, "config", "crd", name), "utf8"), name);
  });

  it("helm lint --strict passes", () => {
    const output = execFileSync(benchTool("helm"), ["lint", "--strict", chartDir, "--kube-version", kubeVersion], { encoding: "utf8" });
    assert.match(output, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(output, /\[(WARNING|ERROR)\]/);
  });

  it("bad values fail at render time naming the value", () => {
    assert.match(refused("--set", "gateway.service.type=Bogus"), /\/gateway\/service\/type.*one of/);
    assert.match(refused("--set", "operator.replicaz=2"), /replicaz/);
    assert.match(refused("--set", "images.operator.digest=latest"), /\/images\/operator\/digest/);
    assert.match(refused("--set", "gateway.mode=istiod"), /\/gateway\/mode/);
    assert.match(refused("--set", "operator.replicas=3", "--set", "operator.leaderElection=false"), /operator\.replicas > 1 needs operator\.leaderElection=true/);
  });

  it("every object is labelled app.kubernetes.io/{name,part-of,instance,managed-by,version}, every pod template name and part-of", () => {
    for (const object of objects(helmTemplate())) {
      const labels = object.metadata.labels ?? {};
      for (const key of ["name", "part-of", "instance", "managed-by", "version"]) assert.ok(labels[`app.kubernetes.io/${key}`], `${object.kind} ${object.metadata.name} lacks app.kubernetes.io/${key}`);
      const podLabels = object.spec?.template?.metadata.labels;
      if (podLabels) for (const key of ["name", "part-of"]) assert.ok(podLabels[`app.kubernetes.io/${key}`], `${object.kind} ${object.metadata.name}'s pods lack app.kubernetes.io/${key}`);
    }
  });

  it("the operator's pods are hardened (non-root, read-only root, no escalation, no capabilities, RuntimeDefault), probed on /healthz and /readyz", () => {
    const rendered = objects(helmTemplate());
    for (const name of ["pilotfish", "istio-ingressgateway"]) {
      const pod = find(rendered, "Deployment", name).spec?.template?.spec;
      assert.ok(pod);
      assert.equal(pod.securityContext?.runAsNonRoot, true, name);
      assert.equal(pod.securityContext?.seccompProfile?.type, "RuntimeDefault", name);
      for (const container of pod.containers) {
        assert.equal(container.securityContext?.allowPrivilegeEscalation, false, container.name);
        assert.equal(container.securityContext?.readOnlyRootFilesystem, true, container.name);
        assert.deepEqual(container.securityContext?.capabilities?.drop, ["ALL"], container.name);
      }
    }
    const operator = find(rendered, "Deployment", "pilotfish").spec?.template?.spec.containers[0];
    assert.equal(operator?.livenessProbe?.httpGet?.path, "/healthz");
    assert.equal(operator?.readinessProbe?.httpGet?.path, "/readyz");
    assert.equal(operator?.image, "pilotfish/operator:0.1.0");
  });

  it("the operator writes the bootstrap for the directory the gateway mounts (gateway.configDir)", () => {
    const rendered = objects(helmTemplate(["--set", "gateway.configDir=/etc/elsewhere"]));
    const args = find(rendered, "Deployment", "pilotfish").spec?.template?.spec.containers[0]?.args ?? [];
    assert.ok(args.includes("--proxy-config-dir=/etc/elsewhere"), args.join(" "));
    const proxy = find(rendered, "Deployment", "istio-ingressgateway").spec?.template?.spec.containers[0];
    assert.equal(proxy?.volumeMounts?.find((mount) => mount.name === "proxy-config")?.mountPath, "/etc/elsewhere");
    assert.ok(proxy?.args?.includes("/etc/elsewhere/envoy.yaml"));
  });

  it("values change what they say: images by digest, LoadBalancer, replicas, HPA, PDB with leader election, xDS port", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    const rendered = objects(helmTemplate([
      "--set", `images.operator.digest=${digest}`, "--set", "images.operator.repository=registry.example/pf/operator",
      "--set", "gateway.service.type=LoadBalancer", "--set", "gateway.autoscaling.enabled=true",
      "--set", "operator.replicas=2", "--set", "operator.leaderElection=true", "--set", "xds.enabled=true",
    ]));
    const operator = find(rendered, "Deployment", "pilotfish");
    assert.equal(operator.spec?.replicas, 2);
    assert.equal(operator.spec?.template?.spec.containers[0]?.image, `registry.example/pf/operator@${digest}`);
    assert.ok(operator.spec?.template?.spec.containers[0]?.args?.includes("--leader-elect=true"));
    assert.ok(operator.spec?.template?.spec.containers[0]?.args?.includes("--xds-address=:15010"));
    assert.ok(operator.spec?.template?.spec.affinity?.podAntiAffinity);
    find(rendered, "PodDisruptionBudget", "pilotfish");
    find(rendered, "HorizontalPodAutoscaler", "istio-ingressgateway");
    assert.equal(find(rendered, "Deployment", "istio-ingressgateway").spec?.replicas, undefined, "the HPA owns replicas");
    assert.equal(find(rendered, "Service", "istio-ingressgateway").spec?.type, "LoadBalancer");
    assert.deepEqual(find(rendered, "Service", "pilotfish").spec?.ports?.map((port) => port.port), [443, 15010]);
    const defaults = objects(helmTemplate());
    assert.equal(find(defaults, "Deployment", "pilotfish").spec?.replicas, 2, "two replicas by default, one leader");
    find(defaults, "PodDisruptionBudget", "pilotfish");
    const single = objects(helmTemplate(["--set", "operator.replicas=1"]));
    assert.equal(single.find((object) => object.kind === "PodDisruptionBudget"), undefined, "no PDB for one replica");
    assert.deepEqual(find(defaults, "Service", "istio-ingressgateway").spec?.ports?.map((port) => [port.port, port.nodePort]), [[15021, undefined], [80, 30000], [443, 30005]]);
  });

  it("gateway.mode agent by default: the agent as a native sidecar of the gateway over TLS, the operator in agent mode serving ADS on the Service; files and ads: no agent", () => {
    const agent = objects(helmTemplate());
    const operatorArgs = find(agent, "Deployment", "pilotfish").spec?.template?.spec.containers[0]?.args ?? [];
    for (const flag of ["--gateway-mode=agent", "--xds-address=:15010"]) assert.ok(operatorArgs.includes(flag), flag);
    assert.ok(!operatorArgs.includes("--xds-plaintext"), "ADS over TLS by default");
    assert.deepEqual(find(agent, "Service", "pilotfish").spec?.ports?.map((port) => port.port), [443, 15010]);
    const pod = find(agent, "Deployment", "istio-ingressgateway").spec?.template?.spec as PodSpec & { initContainers?: (Container & { restartPolicy?: string })[] };
    const sidecar = pod.initContainers?.find((container) => container.name === "pilotfish-agent");
    assert.equal(sidecar?.restartPolicy, "Always");
    assert.equal(sidecar?.image, "pilotfish/operator:0.1.0");
    const flag = (args: string[] | undefined, name: string): string | undefined => args?.[args.indexOf(name) + 1];
    assert.equal(flag(sidecar?.args, "--upstream"), "pilotfish.istio-system.svc:15010");
    assert.equal(flag(sidecar?.args, "--server-name"), "pilotfish.istio-system.svc");
    assert.ok(!sidecar?.args?.includes("--upstream-plaintext"));
    assert.equal(sidecar?.securityContext?.readOnlyRootFilesystem, true);
    const elsewhere = objects(helmTemplate(["-n", "mesh-system", "--set", "gateway.agentUpstream=$(PILOTFISH_SERVICE_HOST):15010"]));
    const moved = (find(elsewhere, "Deployment", "istio-ingressgateway").spec?.template?.spec as { initContainers?: Container[] }).initContainers?.[0];
    assert.equal(flag(moved?.args, "--upstream"), "$(PILOTFISH_SERVICE_HOST):15010");
    assert.equal(flag(moved?.args, "--server-name"), "pilotfish.mesh-system.svc", "the name in the operator's certificate follows the release namespace");
    const plaintext = objects(helmTemplate(["--set", "xds.plaintext=true"]));
    assert.ok((find(plaintext, "Deployment", "istio-ingressgateway").spec?.template?.spec as { initContainers?: Container[] }).initContainers?.[0]?.args?.includes("--upstream-plaintext"));
    const files = objects(helmTemplate(["--set", "gateway.mode=files"]));
    assert.ok(find(files, "Deployment", "pilotfish").spec?.template?.spec.containers[0]?.args?.includes("--xds-address=off"));
    assert.equal((find(files, "Deployment", "istio-ingressgateway").spec?.template?.spec as { initContainers?: unknown[] }).initContainers, undefined);
    const ads = objects(helmTemplate(["--set", "gateway.mode=ads"]));
    const adsOperatorArgs = find(ads, "Deployment", "pilotfish").spec?.template?.spec.containers[0]?.args ?? [];
    assert.ok(adsOperatorArgs.includes("--gateway-mode=ads"));
    assert.ok(!adsOperatorArgs.includes("--xds-plaintext"), "ads mode: the operator's ADS is TLS with token authentication");
    const adsPod = find(ads, "Deployment", "istio-ingressgateway").spec?.template?.spec as PodSpec & { initContainers?: unknown[] };
    assert.equal(adsPod.initContainers, undefined);
    // Envoy itself reads the projected token and the CA root (the bootstrap's paths).
    const mounts = Object.fromEntries((adsPod.containers[0]?.volumeMounts ?? []).map((mount) => [mount.name, mount.mountPath]));
    assert.equal(mounts["pilotfish-token"], "/var/run/secrets/tokens");
    assert.equal(mounts["pilotfish-ca"], "/var/run/pilotfish/ca");
    const volumes = JSON.stringify(adsPod.volumes);
    assert.match(volumes, /"audience":"pilotfish"/);
    assert.match(volumes, /"name":"pilotfish-ca-root"/);
    assert.doesNotMatch(volumes, /"name":"pilotfish-ca-root","optional":true/, "Envoy cannot start without the CA root: the pod waits for it");
    const plaintextAds = find(objects(helmTemplate(["--set", "gateway.mode=ads", "--set", "xds.plaintext=true"])), "Deployment", "istio-ingressgateway").spec?.template?.spec as PodSpec;
    assert.ok(!JSON.stringify(plaintextAds.volumes).includes("pilotfish-token"), "plaintext ads: no token");
  });

  it("a gateway mode switch changes the gateway's pod template (Envoy reads its bootstrap only at start: the pods must be replaced)", () => {
    const template = (...values: string[]): string =>
      JSON.stringify(find(objects(helmTemplate(values)), "Deployment", "istio-ingressgateway").spec?.template);
    const variants = new Map([
      ["files", template("--set", "gateway.mode=files")],
      ["agent", template()],
      ["ads", template("--set", "gateway.mode=ads")],
      ["ads plaintext", template("--set", "gateway.mode=ads", "--set", "xds.plaintext=true")],
    ]);
    for (const [a, left] of variants) for (const [b, right] of variants) if (a < b && !(a.startsWith("ads") && b.startsWith("ads"))) assert.notEqual(left, right, `${a} and ${b} pod templates`);
    assert.match(variants.get("ads plaintext") ?? "", /"pilotfish.io\/gateway-mode":"ads"/);
    assert.ok(find(objects(helmTemplate()), "Deployment", "pilotfish").spec?.template?.spec.containers[0]?.args?.includes("--gateway-mode=agent"));
  });

  it("webhook.certManager.enabled: a Certificate into Secret pilotfish-webhook-tls, inject-ca-from on both configurations, the operator reading that Secret and patching nothing", () => {
    const annotated = (list: K8sObject[], kind: string, name: string): string | undefined =>
      (find(list, kind, name).metadata as { annotations?: Record<string, string> }).annotations?.["cert-manager.io/inject-ca-from"];
    const defaults = objects(helmTemplate());
    assert.equal(defaults.find((object) => object.kind === "Certificate"), undefined, "no Certificate by default");
    assert.equal(annotated(defaults, "ValidatingWebhookConfiguration", "pilotfish-validator"), undefined);

    const selfSigned = objects(helmTemplate(["--set", "webhook.certManager.enabled=true"]));
    const certificate = find(selfSigned, "Certificate", "pilotfish-webhook") as K8sObject & { spec: { secretName: string; dnsNames: string[]; issuerRef: Record<string, string> } };
    assert.equal(certificate.apiVersion, "cert-manager.io/v1");
    assert.equal(certificate.spec.secretName, "pilotfish-webhook-tls");
    assert.deepEqual(certificate.spec.dnsNames, ["pilotfish.istio-system.svc", "pilotfish.istio-system.svc.cluster.local"]);
    assert.deepEqual(certificate.spec.issuerRef, { name: "pilotfish-selfsigned", kind: "Issuer", group: "cert-manager.io" });
    assert.equal(find(selfSigned, "Issuer", "pilotfish-selfsigned").apiVersion, "cert-manager.io/v1");
    for (const [kind, name] of [["ValidatingWebhookConfiguration", "pilotfish-validator"], ["MutatingWebhookConfiguration", "pilotfish-sidecar-injector"]] as const) {
      assert.equal(annotated(selfSigned, kind, name), "istio-system/pilotfish-webhook", `${kind} ${name}`);
    }
    const args = find(selfSigned, "Deployment", "pilotfish").spec?.template?.spec.containers[0]?.args ?? [];
    for (const flag of ["--webhook-certificates=cert-manager", "--webhook-cert-secret=pilotfish-webhook-tls"]) assert.ok(args.includes(flag), flag);
    // RBAC: read that one Secret; no CA Secret, no create, no caBundle patch.
    const role = find(selfSigned, "Role", "pilotfish-webhook-ca") as K8sObject & { rules: Array<{ resources: string[]; resourceNames?: string[]; verbs: string[] }> };
    assert.deepEqual(role.rules, [{ apiGroups: [""], resources: ["secrets"], resourceNames: ["pilotfish-webhook-tls"], verbs: ["get"] }]);
    assert.equal((find(selfSigned, "ClusterRole", "pilotfish-webhook") as K8sObject & { rules?: unknown[] }).rules ?? null, null, "nothing to patch");

    const ownIssuer = objects(helmTemplate(["--set", "webhook.certManager.enabled=true", "--set", "webhook.certManager.issuerRef.name=corp-ca", "--set", "webhook.certManager.issuerRef.kind=ClusterIssuer"]));
    assert.deepEqual((find(ownIssuer, "Certificate", "pilotfish-webhook") as K8sObject & { spec: { issuerRef: Record<string, string> } }).spec.issuerRef, { name: "corp-ca", kind: "ClusterIssuer", group: "cert-manager.io" });
    assert.equal(ownIssuer.find((object) => object.kind === "Issuer"), undefined, "no self-signed Issuer with an issuerRef");
    assert.match(refused("--set", "webhook.certManager.issuerRef.kind=Vault"), /certManager\/issuerRef\/kind/);
    assert.match(refused("--set", "webhook.certManager.duration=90 days"), /certManager\/duration/);
  });

  it("webhook.enabled=false drops the webhook configurations and their RBAC, and turns the webhook off", () => {
    const rendered = objects(helmTemplate(["--set", "webhook.enabled=false"]));
    for (const kind of ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]) assert.equal(rendered.find((object) => object.kind === kind), undefined, kind);
    assert.equal(rendered.find((object) => object.metadata.name === "pilotfish-webhook"), undefined);
    assert.ok(find(rendered, "Deployment", "pilotfish").spec?.template?.spec.containers[0]?.args?.includes("--webhook-addr=off"));
  });
});
