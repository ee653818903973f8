import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import yaml from "js-yaml";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { labsDir, labsSkip } from "../../support/labs.js";
import { repoRoot } from "../../support/paths.js";

/*
 * L0 against a real kube-apiserver: the generated CRDs install, every lab Gateway /
 * VirtualService / DestinationRule applies unchanged (as v1alpha3 and as v1) and reads back equal,
 * the printer columns are Istio's, and structurally wrong manifests are refused readably.
 */

const NS = "istioinaction";
const ISTIO_KINDS = new Set(["Gateway", "VirtualService", "DestinationRule"]);
const PLURAL: Record<string, string> = { Gateway: "gateways", VirtualService: "virtualservices", DestinationRule: "destinationrules" };

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: unknown;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const path = join(dir, entry);
      return statSync(path).isDirectory() ? yamlFiles(path) : /\.ya?ml$/.test(entry) ? [path] : [];
    });
}

/** Lab files that pilotfish's API covers: Istio kinds we serve plus the Kubernetes objects beside them. */
function labFiles(): { path: string; documents: Manifest[] }[] {
  const dir = labsDir();
  if (!dir) return [];
  const files: { path: string; documents: Manifest[] }[] = [];
  for (const path of yamlFiles(dir)) {
    const documents = yaml.loadAll(readFileSync(path, "utf8")).filter((d): d is Manifest => typeof d === "object" && d !== null);
    if (documents.length === 0 || documents.some((d) => typeof d.kind !== "string")) continue; // e.g. Envoy bootstrap YAML
    const unsupported = documents.some((d) => d.apiVersion.includes("istio.io") && !ISTIO_KINDS.has(d.kind));
    if (!unsupported) files.push({ path, documents });
  }
  return files;
}

describe("networking.istio.io CRDs on a real apiserver", { skip: labsSkip() }, () => {
  let plane: ControlPlane;

  before(async () => {
    plane = await startControlPlane();
    await plane.kubectlOk(["apply", "-f", join(repoRoot, "config", "crd")]);
    await plane.kubectlOk([
      "wait", "--for=condition=Established", "--timeout=60s",
      "crd/gateways.networking.istio.io", "crd/virtualservices.networking.istio.io", "crd/destinationrules.networking.istio.io",
    ]);
    await plane.kubectlOk(["create", "namespace", NS]);
  });

  after(async () => {
    await plane?.stop();
  });

  test("the CRDs serve v1alpha3, v1beta1 and v1 with short names gw, vs, dr", async () => {
    const resources = await plane.kubectlOk(["api-resources", "--api-group=networking.istio.io", "--no-headers"]);
    assert.match(resources, /^destinationrules\s+dr\s+networking\.istio\.io\/v1\s+true\s+DestinationRule$/m);
    assert.match(resources, /^gateways\s+gw\s+networking\.istio\.io\/v1\s+true\s+Gateway$/m);
    assert.match(resources, /^virtualservices\s+vs\s+networking\.istio\.io\/v1\s+true\s+VirtualService$/m);
    const versions = await plane.kubectlOk(["api-versions"]);
    for (const version of ["v1alpha3", "v1beta1", "v1"]) assert.match(versions, new RegExp(`^networking\\.istio\\.io/${version}$`, "m"));
  });

  test("every lab manifest applies unchanged and reads back equal (v1alpha3 as written, then as v1)", async () => {
    const files = labFiles();
    const istioDocuments = files.flatMap((f) => f.documents.filter((d) => ISTIO_KINDS.has(d.kind)));
    assert.ok(istioDocuments.length >= 10, `expected the lab Gateways and VirtualServices, found ${istioDocuments.length}`);
    for (const { path, documents } of files) {
      const applied = await plane.kubectl(["apply", "-n", NS, "-f", path]);
      assert.equal(applied.code, 0, `kubectl apply -f ${path}: ${applied.stderr}`);
      for (const document of documents.filter((d) => ISTIO_KINDS.has(d.kind))) {
        for (const version of ["v1alpha3", "v1"]) {
          if (version === "v1") {
            const asV1 = JSON.stringify({ ...document, apiVersion: "networking.istio.io/v1" });
            const result = await plane.kubectl(["apply", "-n", NS, "-f", "-"], { input: asV1 });
            assert.equal(result.code, 0, `kubectl apply (v1) ${document.kind} ${document.metadata.name}: ${result.stderr}`);
          }
          const stored = JSON.parse(
            await plane.kubectlOk(["get", "-n", NS, `${PLURAL[document.kind]}.${version}.networking.istio.io`, document.metadata.name, "-o", "json"]),
          ) as Manifest;
          assert.equal(stored.apiVersion, `networking.istio.io/${version}`);
          assert.deepEqual(stored.spec, JSON.parse(JSON.stringify(document.spec)), `${path}: ${document.kind} ${document.metadata.name} lost fields in ${version}`);
        }
      }
    }
  });

  test("kubectl get gw,vs prints Istio's columns, plus pilotfish's status columns (empty until an operator writes status)", async () => {
    const output = await plane.kubectlOk(["get", "gw,vs", "-n", NS]);
    assert.match(output, /^NAME\s+ACCEPTED\s+PROGRAMMED\s+AGE$/m);
    assert.match(output, /^NAME\s+GATEWAYS\s+HOSTS\s+PROGRAMMED\s+AGE$/m);
    assert.match(output, /^virtualservice\.networking\.istio\.io\/webapp-vs-from-gw\s+\["coolstore-gateway"\]\s+\["webapp\.istioinaction\.io"\]\s+\S+$/m);
    assert.match(output, /^gateway\.networking\.istio\.io\/coolstore-gateway\s+\S+$/m);
  });

  const reject = async (manifest: unknown): Promise<string> => {
    const result = await plane.kubectl(["apply", "-n", NS, "-f", "-"], { input: JSON.stringify(manifest) });
    assert.notEqual(result.code, 0, "the apiserver must refuse the manifest");
    return result.stderr;
  };
  const gateway = (server: unknown) => ({
    apiVersion: "networking.istio.io/v1alpha3",
    kind: "Gateway",
    metadata: { name: "broken" },
    spec: { selector: { istio: "ingressgateway" }, servers: [server] },
  });

  test("a port number written as text is refused with the field and the expected type", async () => {
    const stderr = await reject(gateway({ port: { number: "eighty", name: "http", protocol: "HTTP" }, hosts: ["a.com"] }));
    assert.match(stderr, /spec\.servers\[0\]\.port\.number: Invalid value: "string": spec\.servers\[0\]\.port\.number in body must be of type integer/);
  });

  test("an unknown TLS mode is refused with the supported values", async () => {
    const stderr = await reject(gateway({ port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["a.com"], tls: { mode: "STRICT" } }));
    assert.match(stderr, /spec\.servers\[0\]\.tls\.mode: Unsupported value: "STRICT": supported values: "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"/);
  });

  test("a StringMatch with both exact and prefix is refused (protobuf oneof)", async () => {
    const stderr = await reject({
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "broken" },
      spec: { hosts: ["a.com"], http: [{ match: [{ uri: { exact: "/a", prefix: "/b" } }], route: [{ destination: { host: "a" } }] }] },
    });
    assert.match(stderr, /"spec\.http\[0\]\.match\[0\]\.uri" must validate one and only one schema \(oneOf\)\. Found 2 valid alternatives/);
  });

  test("a misspelt field is refused by strict field validation", async () => {
    const stderr = await reject(gateway({ port: { number: 80, name: "http", protocol: "HTTP" }, hostz: ["a.com"] }));
    assert.match(stderr, /unknown field "spec\.servers\[0\]\.hostz"/);
  });
});
