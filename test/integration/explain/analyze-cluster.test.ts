/**
 * `pilotfish analyze --cluster` as a process against a real apiserver: the live Gateways,
 * VirtualServices, DestinationRules, Services and the credential Secrets Gateways name are read
 * with the kubeconfig and cross-checked; errors exit 1 and `-o json` carries code, resource and fix.
 * Then `analyze -f` on the same manifests from files gives the same findings.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dump } from "js-yaml";
import { installCrds } from "../../support/crds.js";
import { startControlPlane } from "../../support/control-plane.js";
import type { ControlPlane } from "../../support/control-plane.js";
import { runCli } from "../../support/cli.js";

const pilotfish = (...args: string[]) => runCli(args);

const manifests = [
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "istio-system" } },
  { apiVersion: "v1", kind: "Service", metadata: { name: "istio-ingressgateway", namespace: "istio-system" }, spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80 }] } },
  { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "shop" }, spec: { ports: [{ name: "http", port: 80 }] } },
  {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "gw", namespace: "shop" },
    spec: {
      selector: { istio: "ingressgateway" },
      servers: [
        { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["a.example"] },
        { port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["a.example"], tls: { mode: "SIMPLE", credentialName: "a-credential" } },
      ],
    },
  },
  {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "a", namespace: "shop" },
    spec: { hosts: ["a.example", "b.example"], gateways: ["gw"], http: [{ route: [{ destination: { host: "web" } }] }, { match: [{ uri: { prefix: "/never" } }], route: [{ destination: { host: "ghost" } }] }] },
  },
];

const expected = [
  "IST0101 Gateway shop/gw spec.servers[1].tls.credentialName",
  "IST0101 VirtualService shop/a spec.http[1].route[0].destination.host",
  "IST0130 VirtualService shop/a spec.http[1]",
  "IST0132 VirtualService shop/a spec.hosts[1]",
  "IST0162 Gateway shop/gw spec.servers[1].port.number",
];

interface JsonFinding {
  code: string;
  resource: string;
  field: string;
  fix?: string;
}

const summary = (findings: JsonFinding[]): string[] => findings.filter((f) => f.code !== "IST0106").map((f) => `${f.code} ${f.resource} ${f.field}`).sort();

describe("pilotfish analyze --cluster", { timeout: 600_000 }, () => {
  let controlPlane: ControlPlane;
  let work: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "pilotfish-analyze-cluster-"));
    controlPlane = await startControlPlane();
    await installCrds(controlPlane);
    await controlPlane.kubectlOk(["apply", "-f", "-"], { input: manifests.map((doc) => dump(doc)).join("---\n") });
  });
  after(async () => {
    await controlPlane?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("the live cluster's cross-reference findings, exit 1 on errors", async () => {
    const run = await pilotfish("analyze", "--cluster", "--kubeconfig", controlPlane.kubeconfigPath, "-o", "json");
    assert.equal(run.code, 1, run.stderr);
    const findings = JSON.parse(run.stdout) as JsonFinding[];
    assert.deepEqual(summary(findings), expected);
    assert.ok(findings.every((f) => (f.fix ?? "").length > 0), "every finding says how to fix it");
    assert.match(run.stderr, /cluster analyzed: 2 error\(s\), 3 warning\(s\)/);
    assert.doesNotMatch(run.stderr, /listing Gateways/, "no progress off a terminal without --verbose");
  });

  test("--verbose: timestamped phase lines on stderr, -o json on stdout still parses to the same findings", async () => {
    const run = await pilotfish("analyze", "--cluster", "--kubeconfig", controlPlane.kubeconfigPath, "-o", "json", "--verbose");
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(summary(JSON.parse(run.stdout) as JsonFinding[]), expected);
    assert.match(run.stderr, /^\[ +\d+\.\ds\] listing Gateways, VirtualServices, DestinationRules and Services at \S+ \(kubeconfig: /m);
    assert.match(run.stderr, /^\[ +\d+\.\ds\] reading the 2 credential Secret\(s\) the Gateways name$/m);
    assert.ok(!run.stderr.includes("\x1b"), "no escape codes off a terminal");
  });

  test("the same manifests from files give the same findings; a fixed set exits 0", async () => {
    const file = join(work, "shop.yaml");
    writeFileSync(file, manifests.map((doc) => dump(doc)).join("---\n"));
    const run = await pilotfish("analyze", "-f", file, "-o", "json");
    assert.equal(run.code, 1, run.stderr);
    const fromFiles = JSON.parse(run.stdout) as Array<JsonFinding & { message: string }>;
    // From files the per-resource validator reports the unreachable rule (IST0106), so IST0130 is not repeated.
    assert.deepEqual(summary(fromFiles), expected.filter((line) => !line.startsWith("IST0130")));
    assert.ok(fromFiles.some((f) => f.code === "IST0106" && f.message.includes("spec.http[1]: warning: this route is unreachable")), JSON.stringify(fromFiles));

    await controlPlane.kubectlOk(["-n", "shop", "delete", "virtualservice", "a"]);
    await controlPlane.kubectlOk(["-n", "shop", "patch", "gateway", "gw", "--type", "json", "-p", '[{"op":"remove","path":"/spec/servers/1"}]']);
    const clean = await pilotfish("analyze", "--cluster", "--kubeconfig", controlPlane.kubeconfigPath);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stderr, /cluster analyzed: 0 error\(s\), 0 warning\(s\)/);
  });
});
