import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { buildImage, normalizeReference } from "../../../scripts/images/oci.js";
import type { RootfsEntry } from "../../../scripts/images/oci.js";
import { imageSpecs } from "../../../scripts/images/specs.js";
import { benchTool, repoRoot } from "../../support/paths.js";

/** The final stage of a Dockerfile: what the image runs as. */
function finalStage(dockerfile: string): { entrypoint?: string[]; cmd?: string[]; user?: string; expose: number[] } {
  const lines = dockerfile.replace(/\\\n/g, " ").split("\n").map((line) => line.trim());
  const lastFrom = lines.map((line, index) => (/^FROM\s/i.test(line) ? index : -1)).filter((index) => index >= 0).pop() ?? 0;
  const stage: { entrypoint?: string[]; cmd?: string[]; user?: string; expose: number[] } = { expose: [] };
  for (const line of lines.slice(lastFrom)) {
    const [instruction, ...rest] = line.split(/\s+/);
    const argument = rest.join(" ");
    switch (instruction?.toUpperCase()) {
      case "ENTRYPOINT":
        stage.entrypoint = JSON.parse(argument) as string[];
        break;
      case "CMD":
        stage.cmd = JSON.parse(argument) as string[];
        break;
      case "USER":
        stage.user = argument;
        break;
      case "EXPOSE":
        stage.expose.push(...rest.map((port) => Number(port.replace(/\/tcp$/, ""))));
        break;
    }
  }
  return stage;
}

describe("images: the local builder and the real-world Dockerfiles agree", () => {
  for (const spec of Object.values(imageSpecs)) {
    it(`${spec.name}: entrypoint, cmd, user and ports`, () => {
      const stage = finalStage(readFileSync(join(repoRoot, "images", spec.name, "Dockerfile"), "utf8"));
      assert.deepEqual(stage.entrypoint, spec.config.entrypoint);
      assert.deepEqual(stage.cmd, spec.config.cmd);
      assert.equal(stage.user, spec.config.user);
      assert.deepEqual(stage.expose.sort(), [...spec.config.exposedPorts].sort());
    });
  }
});

describe("images: the real-world Dockerfiles", () => {
  it("pass hadolint", () => {
    const dockerfiles = Object.keys(imageSpecs).map((name) => join(repoRoot, "images", name, "Dockerfile"));
    try {
      execFileSync(benchTool("hadolint"), ["--no-color", ...dockerfiles], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      const failure = error as { stdout?: string; stderr?: string };
      assert.fail(`hadolint found problems:\n${failure.stdout ?? ""}${failure.stderr ?? ""}`);
    }
  });
});

describe("images: the OCI builder", () => {
  const work = mkdtempSync(join(tmpdir(), "pilotfish-oci-test-"));
  after(() => rmSync(work, { recursive: true, force: true }));
  const source = join(work, "hello.txt");
  writeFileSync(source, "hello\n");
  const entries: RootfsEntry[] = [
    { kind: "file", path: "/data/hello.txt", from: source, mode: 0o644 },
    { kind: "text", path: "/etc/motd", content: "motd\n" },
    { kind: "symlink", path: "/data/link", target: "hello.txt" },
    { kind: "dir", path: "/tmp", mode: 0o1777 },
  ];
  const config = { entrypoint: ["/bin/true"], user: "1000:1000", exposedPorts: [8080] };

  it("normalises references as the CRI does", () => {
    assert.equal(normalizeReference("pilotfish/proxy:1.40.0"), "docker.io/pilotfish/proxy:1.40.0");
    assert.equal(normalizeReference("busybox:1"), "docker.io/library/busybox:1");
    assert.equal(normalizeReference("registry.example/a/b:1"), "registry.example/a/b:1");
  });

  it("builds the same digest twice from the same inputs, and reuses the cached tarball", () => {
    const first = buildImage("pilotfish/unit:1", config, "inputs-v1", () => entries, join(work, "a"));
    const second = buildImage("pilotfish/unit:1", config, "inputs-v1", () => entries, join(work, "b"));
    assert.equal(first.cached, false);
    assert.equal(second.manifestDigest, first.manifestDigest);
    const again = buildImage("pilotfish/unit:1", config, "inputs-v1", () => assert.fail("a cached image is not staged again"), join(work, "a"));
    assert.equal(again.cached, true);
    assert.equal(again.manifestDigest, first.manifestDigest);
    const changed = buildImage("pilotfish/unit:1", { ...config, user: "1001:1001" }, "inputs-v1", () => entries, join(work, "a"));
    assert.notEqual(changed.manifestDigest, first.manifestDigest);
  });

  it("writes an OCI layout that names the image and carries the config and the files", () => {
    const image = buildImage("pilotfish/unit:2", config, "inputs-v2", () => entries, join(work, "c"));
    const out = join(work, "unpacked");
    execFileSync("mkdir", ["-p", out]);
    execFileSync("tar", ["-xf", image.tarball, "-C", out]);
    const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8")) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
    assert.equal(index.manifests[0]?.annotations["io.containerd.image.name"], "docker.io/pilotfish/unit:2");
    const blob = (digest: string): Buffer => readFileSync(join(out, "blobs", "sha256", digest.replace("sha256:", "")));
    const manifest = JSON.parse(blob(index.manifests[0]?.digest ?? "").toString()) as { config: { digest: string }; layers: Array<{ digest: string; mediaType: string }> };
    const imageConfig = JSON.parse(blob(manifest.config.digest).toString()) as { config: { User: string; Entrypoint: string[]; ExposedPorts: object } };
    assert.equal(imageConfig.config.User, "1000:1000");
    assert.deepEqual(imageConfig.config.Entrypoint, ["/bin/true"]);
    assert.deepEqual(Object.keys(imageConfig.config.ExposedPorts), ["8080/tcp"]);
    const layer = join(work, "layer.tar");
    writeFileSync(layer, blob(manifest.layers[0]?.digest ?? ""));
    const listing = execFileSync("tar", ["-tvf", layer], { encoding: "utf8" });
    assert.match(listing, /-rw-r--r-- 0\/0 +6 1970-01-01 00:00 \.\/data\/hello\.txt/);
    assert.match(listing, /lrwxrwxrwx 0\/0 +0 1970-01-01 00:00 \.\/data\/link -> hello\.txt/);
    assert.match(listing, /drwxrwxrwt 0\/0 .*\.\/tmp\//);
  });
});
