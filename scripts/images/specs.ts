/**
 * The project's images, built locally from this machine's files (no registry is reachable). The
 * references are the ones the manifests in config/ and the chart use, so the same manifests run
 * on the bench's node and, with images built from images/<name>/Dockerfile, in a real cluster.
 * images.test.ts checks that each Dockerfile agrees with its spec on entrypoint, user and ports.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot } from "../../test/support/paths.js";
import { baseEntries, contentKey, programWithLibraries } from "./oci.js";
import type { ImageConfig, RootfsEntry } from "./oci.js";

export interface ImageSpec {
  /** Short name, also the folder under images/ holding the real-world Dockerfile. */
  name: ImageName;
  reference: string;
  config: ImageConfig;
  /** Cheap identity of the contents (the cache key). */
  inputs(bench: string): string;
  /** `scratch`: a folder for staging, removed once the image is written. */
  entries(bench: string, scratch: string): RootfsEntry[];
}

export type ImageName = "pause" | "proxy" | "test-upstream" | "proxy-init" | "operator";

function pinned(variable: string): string {
  const script = readFileSync(join(repoRoot, "scripts", "testenv.sh"), "utf8");
  const match = new RegExp(`^${variable}=(\\S+)$`, "m").exec(script);
  if (!match?.[1]) throw new Error(`scripts/testenv.sh does not pin ${variable}`);
  return match[1];
}

export const envoyVersion = pinned("ENVOY_VERSION");
export const projectVersion = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;

/** Istio's proxy uid: the sidecar's iptables rules exempt this uid's traffic (-u 1337). */
export const proxyUid = 1337;
const nonRootUid = 65532;

function benchBinary(bench: string, name: string): string {
  const path = join(bench, "bin", name);
  try {
    return realpathSync(path);
  } catch {
    throw new Error(`${name} is not installed at ${path}: run 'make testenv' first`);
  }
}

/** Every regular file under `dir`, as image entries under `imageDir`. */
function tree(dir: string, imageDir: string): RootfsEntry[] {
  const entries: RootfsEntry[] = [];
  const walk = (current: string): void => {
    for (const name of readdirSync(current).sort()) {
      const path = join(current, name);
      const stat = statSync(path, { throwIfNoEntry: false });
      const imagePath = join(imageDir, relative(dir, path));
      if (!stat) continue;
      if (readlinkSafe(path) !== undefined && !stat.isDirectory()) {
        entries.push({ kind: "file", path: imagePath, from: realpathSync(path), mode: stat.mode & 0o777 });
      } else if (stat.isDirectory()) {
        walk(path);
      } else if (stat.isFile()) {
        entries.push({ kind: "file", path: imagePath, from: path, mode: stat.mode & 0o777 });
      }
    }
  };
  walk(dir);
  return entries;
}

function readlinkSafe(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function hashFiles(paths: readonly string[]): string {
  const hash = createHash("sha256");
  for (const path of [...paths].sort()) hash.update(path).update(readFileSync(path));
  return hash.digest("hex");
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => path.endsWith(".ts") && statSync(path).isFile());
}

/** The Node.js runtime that runs this script, at the path the official node image uses. */
function nodeRuntime(): RootfsEntry[] {
  return programWithLibraries(realpathSync(process.execPath), "/usr/local/bin/node");
}

const pause: ImageSpec = {
  name: "pause",
  reference: "pilotfish/pause:1",
  config: { entrypoint: ["/pause"], user: "65535:65535", exposedPorts: [] },
  inputs: (bench) => contentKey([{ kind: "file", path: "/pause", from: benchBinary(bench, "pause") }]),
  entries: (bench) => [{ kind: "file", path: "/pause", from: benchBinary(bench, "pause"), mode: 0o755 }],
};

const proxy: ImageSpec = {
  name: "proxy",
  reference: `pilotfish/proxy:${envoyVersion}`,
  config: {
    entrypoint: ["/usr/local/bin/envoy"],
    user: `${proxyUid}:${proxyUid}`,
    exposedPorts: [8080, 8443, 15021],
  },
  inputs: (bench) => contentKey(programWithLibraries(benchBinary(bench, "envoy"), "/usr/local/bin/envoy")),
  entries: (bench) => [
    ...baseEntries({ uid: proxyUid, gid: proxyUid, name: "istio-proxy" }),
    ...programWithLibraries(benchBinary(bench, "envoy"), "/usr/local/bin/envoy"),
    { kind: "dir", path: "/etc/pilotfish/proxy" },
  ],
};

/** The bench's upstreams (test/support/upstreams), compiled to plain ESM JavaScript. */
const testUpstream: ImageSpec = {
  name: "test-upstream",
  reference: `pilotfish/test-upstream:${projectVersion}`,
  config: {
    entrypoint: ["/usr/local/bin/node", "/app/serve.js"],
    cmd: ["httpbin", "0.0.0.0", "8080", "test-upstream"],
    user: `${nonRootUid}:${nonRootUid}`,
    exposedPorts: [8080],
  },
  inputs: () => hashFiles(sourceFiles(join(repoRoot, "test", "support", "upstreams"))) + contentKey(nodeRuntime()),
  entries: (_bench, scratch) => {
    const out = join(scratch, "upstream-js");
    execFileSync(join(repoRoot, "node_modules", ".bin", "tsc"), [
      "--outDir", out, "--module", "NodeNext", "--moduleResolution", "NodeNext", "--target", "ES2022",
      "--skipLibCheck", "--types", "node", "--rootDir", join(repoRoot, "test", "support", "upstreams"),
      join(repoRoot, "test", "support", "upstreams", "serve.ts"),
    ], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    return [
      ...baseEntries({ uid: nonRootUid, gid: nonRootUid, name: "upstream" }),
      ...nodeRuntime(),
      ...tree(out, "/app"),
      { kind: "text", path: "/app/package.json", content: '{"type":"module"}\n' },
    ];
  },
};

/**
 * iptables for the sidecar's init container (nft and legacy back ends, their extension modules)
 * and a static busybox for a shell. Runs as root with NET_ADMIN, in the pod's network namespace.
 */
const proxyInit: ImageSpec = {
  name: "proxy-init",
  reference: `pilotfish/proxy-init:${projectVersion}`,
  config: { entrypoint: ["/usr/sbin/iptables"], user: "0:0", exposedPorts: [] },
  inputs: () => contentKey(proxyInitEntries()),
  entries: () => [...baseEntries({ uid: 0, gid: 0, name: "root" }), ...proxyInitEntries()],
};

function proxyInitEntries(): RootfsEntry[] {
  const entries: RootfsEntry[] = [
    ...programWithLibraries("/usr/sbin/xtables-nft-multi", "/usr/sbin/xtables-nft-multi"),
    ...programWithLibraries("/usr/sbin/xtables-legacy-multi", "/usr/sbin/xtables-legacy-multi"),
    ...tree("/usr/lib/x86_64-linux-gnu/xtables", "/usr/lib/x86_64-linux-gnu/xtables"),
    { kind: "file", path: "/bin/busybox", from: "/bin/busybox", mode: 0o755 },
    { kind: "symlink", path: "/bin/sh", target: "busybox" },
  ];
  for (const tool of ["iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"]) {
    entries.push({ kind: "symlink", path: `/usr/sbin/${tool}`, target: "xtables-nft-multi" });
    entries.push({ kind: "symlink", path: `/usr/sbin/${tool.replace(/^(ip6?tables)/, "$1-legacy")}`, target: "xtables-legacy-multi" });
  }
  return entries;
}

/** The operator: Node.js, the compiled project (dist/) and its production dependencies. */
const operator: ImageSpec = {
  name: "operator",
  reference: `pilotfish/operator:${projectVersion}`,
  config: {
    entrypoint: ["/usr/local/bin/node", "/app/dist/src/cli/main.js"],
    cmd: ["operator"],
    user: `${nonRootUid}:${nonRootUid}`,
    exposedPorts: [15017],
    workingDir: "/app",
  },
  inputs: () => hashFiles([...sourceFiles(join(repoRoot, "src")), join(repoRoot, "package-lock.json")]) + contentKey(nodeRuntime()),
  entries: (_bench, scratch) => {
    const stageDir = join(scratch, "operator-app");
    mkdirSync(stageDir);
    execFileSync(join(repoRoot, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json", "--outDir", join(stageDir, "dist")], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    for (const file of ["package.json", "package-lock.json"]) execFileSync("cp", [join(repoRoot, file), stageDir]);
    execFileSync("npm", ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: stageDir, stdio: ["ignore", "pipe", "pipe"] });
    return [
      ...baseEntries({ uid: nonRootUid, gid: nonRootUid, name: "pilotfish" }),
      ...nodeRuntime(),
      ...tree(stageDir, "/app"),
    ];
  },
};

export const imageSpecs: Readonly<Record<ImageName, ImageSpec>> = {
  pause,
  proxy,
  "test-upstream": testUpstream,
  "proxy-init": proxyInit,
  operator,
};
