/**
 * The compact form of the published objects (ADR 0018): when the agent reads the files (agent and
 * ads modes), a group over Kubernetes' 1 MiB is gzip-compressed and, if still too large, cut into
 * parts and shards; the folder kubelet would project from those objects reads back as exactly the
 * compiled config. Files mode (Envoy reads the files) keeps plain files and its 1 MiB limit.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { loadAll } from "js-yaml";
import { readConfigDir, resourcesFromFiles } from "../../../src/agent/files.js";
import type { EnvoyResources } from "../../../src/envoy/resources.js";
import type { GatewayProxy } from "../../../src/model/proxy.js";
import type { DesiredObject, PublishPlan } from "../../../src/publish/plan.js";
import { isCompressedKey, maxObjectDataBytes, maxShardsPerGroup, objectManifest, objectName, planPublish, writeOrder } from "../../../src/publish/plan.js";
import { Publisher } from "../../../src/publish/publisher.js";
import type { PublishApi } from "../../../src/publish/publisher.js";
import { compileBench } from "../../../bench/ads.js";
import { repoRoot } from "../../support/paths.js";

const proxy = { namespace: "istio-system", name: "gw", uid: "u1" };
const gatewayProxy: GatewayProxy = { name: "gw", namespace: "istio-system", labels: { istio: "ingressgateway" }, servicePorts: [{ port: 80, targetPort: 8080 }] };
const options = { configDir: "/etc/pilotfish/proxy", bootstrapYaml: "bootstrap: {}\n", maxFileSubscriptions: Number.MAX_SAFE_INTEGER };

/** The folder kubelet projects from the plan's objects (one file per key, later sources win). */
function project(objects: readonly DesiredObject[]): string {
  const dir = mkdtempSync(join(tmpdir(), "pilotfish-compact-"));
  for (const object of objects) {
    for (const [key, value] of Object.entries(object.data)) writeFileSync(join(dir, key), isCompressedKey(key) ? Buffer.from(value, "base64") : Buffer.from(value, "utf8"));
  }
  return dir;
}

function readBack(objects: readonly DesiredObject[]): EnvoyResources {
  const dir = project(objects);
  try {
    return resourcesFromFiles(readConfigDir(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function planOrFail(resources: EnvoyResources, reader: "envoy" | "agent"): PublishPlan {
  const result = planPublish(resources, proxy, { ...options, reader });
  assert.ok(result.ok, result.ok ? "" : result.message);
  return result.plan;
}

/** A route config holding `bytes` of random text: gzip cannot shrink it below ~3/4. */
function withIncompressibleRoute(resources: EnvoyResources, bytes: number): EnvoyResources {
  const body = randomBytes(Math.ceil((bytes * 3) / 4)).toString("base64");
  const route = resources.routes[0];
  assert.ok(route, "a compiled route configuration");
  const virtualHosts = [...((route.virtual_hosts as unknown[] | undefined) ?? []), { name: "noise", domains: ["noise.example.com"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }] }];
  return { ...resources, routes: [{ ...route, virtual_hosts: virtualHosts } as typeof route, ...resources.routes.slice(1)] };
}

describe("compact published objects", () => {
  const thousand = compileBench(1000, gatewayProxy);

  test("1,000 VirtualServices: refused in files mode; one compressed -rds under 1 MiB for the agent, read back exactly", (t) => {
    const refused = planPublish(thousand, proxy, { ...options, reader: "envoy" });
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.reason, "TooLarge");
    assert.match(!refused.ok ? refused.message : "", /ConfigMap pilotfish-gw-rds would hold \d+ bytes .*agent or ads gateway mode/);
    const plainRds = !refused.ok && refused.reason === "TooLarge" ? refused.objects.find((object) => object.group === "rds")?.bytes : undefined;

    const plan = planOrFail(thousand, "agent");
    const rds = plan.objects.filter((object) => object.group === "rds");
    assert.deepEqual(rds.map((object) => object.name), ["pilotfish-gw-rds"], "compressed, it fits one object");
    assert.ok(Object.keys(rds[0]?.data ?? {}).every((key) => key.endsWith(".yaml.gz")));
    for (const object of plan.objects) assert.ok(object.bytes <= maxObjectDataBytes, `${object.name}: ${object.bytes} bytes`);
    const lds = plan.objects.find((object) => object.group === "lds");
    assert.equal(lds?.data["envoy.yaml"], options.bootstrapYaml, "the bootstrap stays plain: Envoy reads it");
    t.diagnostic(`-rds plain ${plainRds} B → gzip ${rds[0]?.bytes} B; ${plan.objects.map((object) => `${object.name} ${object.bytes} B`).join(", ")}`);
    assert.deepEqual(readBack(plan.objects), thousand);

    const manifest = objectManifest(rds[0] as DesiredObject, proxy, 0) as { data: Record<string, string>; binaryData?: Record<string, string> };
    assert.deepEqual(manifest.data, {});
    assert.deepEqual(Object.keys(manifest.binaryData ?? {}), Object.keys(rds[0]?.data ?? {}), "gzip bytes go to binaryData");
  });

  test("small groups stay plain for the agent too (what kubectl get cm shows)", () => {
    const plan = planOrFail(compileBench(3, gatewayProxy), "agent");
    for (const object of plan.objects) assert.ok(Object.keys(object.data).every((key) => !isCompressedKey(key)), object.name);
    assert.equal(plan.objects.length, 5);
  });

  test("a file whose gzip alone is over 1 MiB is cut into parts across shards, and read back exactly", () => {
    const resources = withIncompressibleRoute(compileBench(20, gatewayProxy), 2_600_000);
    const plan = planOrFail(resources, "agent");
    const rds = plan.objects.filter((object) => object.group === "rds");
    assert.deepEqual(rds.map((object) => object.name), ["pilotfish-gw-rds", "pilotfish-gw-rds-1", "pilotfish-gw-rds-2"]);
    const keys = rds.flatMap((object) => Object.keys(object.data));
    assert.ok(keys.some((key) => /\.yaml\.gz\.002$/.test(key)), keys.join(", "));
    for (const object of plan.objects) assert.ok(object.bytes <= maxObjectDataBytes, `${object.name}: ${object.bytes} bytes`);
    assert.deepEqual(readBack(plan.objects), resources);
  });

  test("a part missing (a shard not yet mounted) is an error, not a config", () => {
    const plan = planOrFail(withIncompressibleRoute(compileBench(20, gatewayProxy), 2_600_000), "agent");
    assert.throws(() => readBack(plan.objects.filter((object) => object.name !== "pilotfish-gw-rds-1")), /not gzip .*a part missing\?/);
  });

  test("more than the shards the pod mounts is refused, naming the group", () => {
    const result = planPublish(withIncompressibleRoute(compileBench(20, gatewayProxy), 6_000_000), proxy, { ...options, reader: "agent" });
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.message : "", new RegExp(`even compressed, -rds would need \\d+ objects \\(at most ${maxShardsPerGroup}\\).*ADS still serves it`));
  });

  test("the reader refuses a mix in which a listener names a missing route configuration", () => {
    const plan = planOrFail(thousand, "agent");
    assert.throws(() => readBack(plan.objects.filter((object) => object.group !== "rds")), /inconsistent \(a publish in progress\?\): route configuration .* is referenced but not compiled/);
  });
});

/** An apiserver that stores what is applied, like the real one (Secrets base64, binaryData apart). */
class MemoryApi implements PublishApi {
  readonly objects = new Map<string, Record<string, unknown>>();
  readonly applied: string[] = [];
  async get(path: string): Promise<Record<string, unknown> | undefined> {
    return this.objects.get(path);
  }
  async apply(path: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const keys = [...Object.keys((body.data ?? {}) as object), ...Object.keys((body.binaryData ?? {}) as object)];
    this.applied.push(`${path.split("/").pop()} ${keys.length}`);
    this.objects.set(path, body);
    return body;
  }
  keysOf(name: string): string[] {
    const body = this.objects.get(`/api/v1/namespaces/istio-system/configmaps/${name}`);
    return [...Object.keys((body?.data ?? {}) as object), ...Object.keys((body?.binaryData ?? {}) as object)];
  }
}

describe("publishing compact objects", () => {
  const small = compileBench(20, gatewayProxy);
  const sharded = withIncompressibleRoute(small, 2_600_000);

  test("shards are written, a restarted publisher reads binaryData back and writes nothing, unused shards are emptied", async () => {
    const api = new MemoryApi();
    await new Publisher(api).publish(planOrFail(sharded, "agent"), proxy);
    assert.ok(api.keysOf("pilotfish-gw-rds-2").length > 0);
    api.applied.length = 0;
    const again = await new Publisher(api).publish(planOrFail(sharded, "agent"), proxy);
    assert.deepEqual(again.writes, [], "same content, same hashes, from binaryData too");

    const shrunk = await new Publisher(api).publish(planOrFail(small, "agent"), proxy);
    const written = shrunk.writes.map((write) => `${write.name}:${write.step}`);
    assert.ok(written.includes("pilotfish-gw-rds:written"), written.join(", "));
    assert.ok(written.includes("pilotfish-gw-rds-1:written") && written.includes("pilotfish-gw-rds-2:written"), written.join(", "));
    assert.ok(!written.some((write) => write.endsWith(":staged")), `the route config moved back to plain -rds: nothing to stage (${written.join(", ")})`);
    assert.deepEqual(api.keysOf("pilotfish-gw-rds-1"), []);
    assert.deepEqual(api.keysOf("pilotfish-gw-rds-2"), []);
    assert.ok(api.keysOf("pilotfish-gw-rds").every((key) => !isCompressedKey(key)));
    assert.equal(api.objects.has("/api/v1/namespaces/istio-system/configmaps/pilotfish-gw-rds-3"), false, "an unused shard is never created");
    assert.equal(api.objects.has("/api/v1/namespaces/istio-system/configmaps/pilotfish-gw-eds-1"), false);
  });
});

describe("the gateway pod mounts every shard", () => {
  type Source = { configMap?: { name: string; optional?: boolean }; secret?: { name: string; optional?: boolean } };
  type Doc = { kind?: string; spec?: { template?: { spec?: { volumes?: { name: string; projected?: { sources?: Source[] } }[] } } } };
  // config/gateway is agent mode (the default), config/gateway/ads the ads one.
  for (const dir of ["config/gateway", "config/gateway/ads"]) {
    test(`${dir} (rendered from the chart): the five objects and shards 1 … ${maxShardsPerGroup - 1} of each, optional`, () => {
      const docs = loadAll(readFileSync(join(repoRoot, dir, "deployment.yaml"), "utf8")) as Doc[];
      const deployment = docs.find((doc) => doc?.kind === "Deployment");
      const volume = deployment?.spec?.template?.spec?.volumes?.find((candidate) => candidate.name === "proxy-config");
      const mounted = new Map((volume?.projected?.sources ?? []).map((source) => [(source.configMap ?? source.secret)?.name ?? "", source]));
      for (const group of writeOrder) {
        for (let shard = 0; shard < maxShardsPerGroup; shard++) {
          const source = mounted.get(objectName("istio-ingressgateway", group, shard));
          assert.ok(source, `${objectName("istio-ingressgateway", group, shard)} is projected`);
          assert.equal((group === "sds" ? source.secret : source.configMap)?.optional, shard > 0);
        }
      }
    });
  }
});
