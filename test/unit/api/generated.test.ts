import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import yaml from "js-yaml";
import { generatedFiles } from "../../../src/api/generate/outputs.js";
import { repoRoot } from "../../support/paths.js";

const files = generatedFiles();

for (const [path, expected] of files) {
  test(`${path} is what src/api/schema generates (run 'make generate' if this fails)`, () => {
    const full = join(repoRoot, path);
    assert.ok(existsSync(full), `${path} is missing: run 'make generate'`);
    assert.equal(readFileSync(full, "utf8"), expected, `${path} is stale: run 'make generate'`);
  });
}

test("config/crd holds exactly the generated CRDs (no stale leftovers)", () => {
  const onDisk = readdirSync(join(repoRoot, "config", "crd")).filter((f) => f.endsWith(".yaml")).sort();
  const generated = [...files.keys()].filter((p) => p.startsWith("config/crd/")).map((p) => p.slice("config/crd/".length)).sort();
  assert.deepEqual(onDisk, generated);
});

interface Crd {
  spec: {
    names: { shortNames: string[]; categories: string[]; kind: string };
    conversion: { strategy: string };
    versions: { name: string; served: boolean; storage: boolean; schema: unknown; subresources: unknown; additionalPrinterColumns: { name: string }[] }[];
  };
}

function crd(plural: string): Crd {
  return yaml.load(files.get(`config/crd/networking.istio.io_${plural}.yaml`) ?? "") as Crd;
}

for (const [plural, shortName, columns] of [
  ["gateways", "gw", ["Accepted", "Programmed", "Age"]],
  ["virtualservices", "vs", ["Gateways", "Hosts", "Programmed", "Age"]],
  ["destinationrules", "dr", ["Host", "Programmed", "Age"]],
] as const) {
  test(`${plural}: three served versions, one schema, v1 stored, short name ${shortName}`, () => {
    const { spec } = crd(plural);
    assert.deepEqual(spec.versions.map((v) => [v.name, v.served, v.storage]), [
      ["v1alpha3", true, false],
      ["v1beta1", true, false],
      ["v1", true, true],
    ]);
    assert.equal(spec.conversion.strategy, "None");
    const [first, ...rest] = spec.versions;
    for (const version of rest) assert.deepEqual(version.schema, first?.schema);
    for (const version of spec.versions) {
      assert.deepEqual(version.subresources, { status: {} });
      assert.deepEqual(version.additionalPrinterColumns.map((c) => c.name), columns);
    }
    assert.deepEqual(spec.names.shortNames, [shortName]);
    assert.deepEqual(spec.names.categories, ["istio-io", "networking-istio-io"]);
  });
}

test("x-kubernetes-preserve-unknown-fields appears only on status (Istio's only free-form field here)", () => {
  for (const plural of ["gateways", "virtualservices", "destinationrules"]) {
    const text = files.get(`config/crd/networking.istio.io_${plural}.yaml`) ?? "";
    const occurrences = text.split("x-kubernetes-preserve-unknown-fields").length - 1;
    assert.equal(occurrences, 3, `${plural}: once per version, on status`);
    assert.doesNotMatch(text, /patternProperties|\bconst\b|\$ref/);
  }
});
