/**
 * `pilotfish compile` run as a process, the way a user runs it: output shape (JSON and YAML), -n,
 * repeatable -f with files and directories, diagnostics on stderr, errors with a non-zero exit.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { load } from "js-yaml";
import { repoRoot } from "../../support/paths.js";
import { labPath, labsSkip } from "../../support/labs.js";
import { cliNodeArgs } from "../../support/cli.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function pilotfish(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cliNodeArgs(), ...args], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

interface NamedResource {
  name?: string;
  cluster_name?: string;
  [field: string]: unknown;
}
interface PrintedConfig {
  listeners: NamedResource[];
  routes: NamedResource[];
  clusters: NamedResource[];
  endpoints: NamedResource[];
  secrets: NamedResource[];
}

function parseJsonOutput(run: Run): PrintedConfig {
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as PrintedConfig;
}

const names = (resources: NamedResource[]): (string | undefined)[] => resources.map((r) => r.name ?? r.cluster_name);

/** Domains of every virtual host of a route configuration. */
function virtualHostDomains(route: NamedResource | undefined): string[] {
  const hosts = (route?.virtual_hosts ?? []) as { domains: string[] }[];
  return hosts.flatMap((host) => host.domains);
}

const gatewayYaml = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["app.example.com"]
`;
const virtualServiceYaml = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: app }
spec:
  hosts: [app.example.com]
  gateways: [gw]
  http: [{ route: [{ destination: { host: web } }] }]
`;
const serviceYaml = `apiVersion: v1
kind: Service
metadata: { name: web }
spec: { ports: [{ name: http, port: 80, targetPort: 8000 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8000 }]
endpoints: [{ addresses: [10.1.0.7], conditions: { ready: true } }]
`;
const unknownGatewayYaml = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: lost }
spec:
  hosts: [lost.example.com]
  gateways: [no-such-gateway]
  http: [{ route: [{ destination: { host: web } }] }]
`;
const ingressServiceYaml = `apiVersion: v1
kind: Service
metadata: { name: my-ingress, namespace: edge }
spec:
  selector: { istio: ingressgateway }
  ports: [{ name: http, port: 80, targetPort: 9080 }]
`;

describe("pilotfish compile", { concurrency: 2 }, () => {
  let dir = "";
  const file = (name: string): string => join(dir, name);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "pilotfish-cli-compile-"));
    writeFileSync(file("all.yaml"), [gatewayYaml, virtualServiceYaml, serviceYaml].join("---\n"));
    writeFileSync(file("gateway.yaml"), gatewayYaml);
    mkdirSync(file("more"));
    writeFileSync(file("more/1-vs.yaml"), virtualServiceYaml);
    writeFileSync(file("more/2-svc.yml"), serviceYaml);
    writeFileSync(file("more/notes.txt"), "not: [a manifest\n");
    writeFileSync(file("lost.yaml"), unknownGatewayYaml);
    writeFileSync(file("ingress.yaml"), ingressServiceYaml);
    writeFileSync(file("broken.yaml"), "kind: Gateway\nmetadata: { name: x\n  bad: [\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("JSON: exactly {listeners, routes, clusters, endpoints, secrets} for the default ingress gateway", async () => {
    const run = await pilotfish("compile", "-f", file("all.yaml"));
    const config = parseJsonOutput(run);
    assert.deepEqual(Object.keys(config), ["listeners", "routes", "clusters", "endpoints", "secrets"]);
    assert.equal(run.stderr, "");
    // The chart's default Service maps 80 → 8080.
    assert.deepEqual(names(config.listeners), ["0.0.0.0_8080"]);
    assert.deepEqual(names(config.routes), ["http.8080"]);
    assert.deepEqual(virtualHostDomains(config.routes[0]), ["app.example.com"]);
    assert.deepEqual(names(config.clusters), ["outbound|80||web.default.svc.cluster.local"]);
    assert.equal(config.endpoints.length, 1);
    const endpoints = config.endpoints[0]!;
    assert.equal(endpoints.cluster_name, "outbound|80||web.default.svc.cluster.local");
    assert.equal(endpoints.name, undefined, "the bookkeeping name is stripped");
    assert.match(JSON.stringify(endpoints), /"address":"10\.1\.0\.7","port_value":8000/);
    assert.deepEqual(config.secrets, []);
    for (const resource of [...config.listeners, ...config.routes, ...config.clusters, ...config.endpoints]) {
      assert.match(String(resource["@type"]), /^type\.googleapis\.com\/envoy\./);
    }
  });

  test("-o yaml prints the same document as -o json", async () => {
    const json = parseJsonOutput(await pilotfish("compile", "-f", file("all.yaml"), "-o", "json"));
    const yaml = await pilotfish("compile", "-f", file("all.yaml"), "-o", "yaml");
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.ok(!yaml.stdout.trimStart().startsWith("{"), "YAML block style, not JSON");
    assert.deepEqual(load(yaml.stdout), json);
  });

  test("-n sets the namespace of manifests without one", async () => {
    const config = parseJsonOutput(await pilotfish("compile", "-n", "shop", "-f", file("all.yaml")));
    assert.deepEqual(names(config.clusters), ["outbound|80||web.shop.svc.cluster.local"]);
    assert.match(JSON.stringify(config.routes[0]), /namespaces\/shop\/virtual-service\/app/);
  });

  test("repeatable -f with a file and a directory (its .yaml/.yml files, sorted) equals one file", async () => {
    const single = await pilotfish("compile", "-f", file("all.yaml"));
    const split = await pilotfish("compile", "-f", file("gateway.yaml"), "-f", file("more"));
    assert.equal(split.code, 0, split.stderr);
    assert.equal(split.stdout, single.stdout);
  });

  test("the ingress gateway Service among the files replaces the default proxy", async () => {
    const config = parseJsonOutput(await pilotfish("compile", "-f", file("all.yaml"), "-f", file("ingress.yaml")));
    assert.deepEqual(names(config.listeners), ["0.0.0.0_9080"]);
  });

  test("diagnostics go to stderr, the config to stdout, exit 0", async () => {
    const run = await pilotfish("compile", "-f", file("all.yaml"), "-f", file("lost.yaml"));
    const config = parseJsonOutput(run);
    assert.deepEqual(virtualHostDomains(config.routes[0]), ["app.example.com"], "the unbound VirtualService is not served");
    assert.match(run.stderr, /^(warning|error): VirtualService default\/lost \S*gateways\S*: .*no-such-gateway/m);
    for (const line of run.stderr.trim().split("\n")) assert.match(line, /^(warning|error|info): \S+ \S+\/\S+ \S*: /);
  });

  test("a missing file: non-zero exit and a message naming it", async () => {
    const missing = file("does-not-exist.yaml");
    const run = await pilotfish("compile", "-f", file("all.yaml"), "-f", missing);
    assert.notEqual(run.code, 0);
    assert.equal(run.stdout, "");
    assert.equal(run.stderr.trim(), `pilotfish: cannot read ${missing}: no such file or directory`);
  });

  test("unparseable YAML: non-zero exit and a message naming the file and the position", async () => {
    const run = await pilotfish("compile", "-f", file("broken.yaml"));
    assert.notEqual(run.code, 0);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, new RegExp(`^pilotfish: ${file("broken.yaml").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: invalid YAML: .*\\(3:\\d+\\)`));
  });

  test("an unknown output format and a missing -f are refused", async () => {
    const format = await pilotfish("compile", "-f", file("all.yaml"), "-o", "xml");
    assert.notEqual(format.code, 0);
    assert.match(format.stderr, /unknown output format xml \(json or yaml\)/);
    const noFile = await pilotfish("compile");
    assert.notEqual(noFile.code, 0);
    assert.match(noFile.stderr, /required option '-f, --filename <path>' not specified/);
  });

  test("labs ch4: coolstore Gateway + VirtualService with -n istioinaction", { skip: labsSkip() }, async () => {
    const run = await pilotfish("compile", "-n", "istioinaction", "-f", labPath("ch4/coolstore-gw.yaml"), "-f", labPath("ch4/coolstore-vs.yaml"));
    const config = parseJsonOutput(run);
    assert.deepEqual(names(config.listeners), ["0.0.0.0_8080"]);
    assert.deepEqual(virtualHostDomains(config.routes[0]), ["webapp.istioinaction.io"]);
    // No Service in the files: the route still names the cluster (port given; Envoy answers 503),
    // no cluster is emitted for it, and a warning says why.
    assert.match(JSON.stringify(config.routes[0]), /"cluster":"outbound\|80\|\|webapp\.istioinaction\.svc\.cluster\.local"/);
    assert.deepEqual(config.clusters, []);
    assert.match(run.stderr, /^warning: VirtualService istioinaction\/webapp-vs-from-gw \S+destination\.host: service webapp\.istioinaction\.svc\.cluster\.local not found/m);
  });
});
