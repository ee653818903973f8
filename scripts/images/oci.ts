/**
 * A deterministic OCI image builder for machines with no registry and no Docker: a root
 * filesystem staged from local files → one uncompressed layer (GNU tar with sorted names, zero
 * mtimes and numeric root ownership, so the same inputs give the same digest) → an OCI image
 * layout tarball that `ctr images import` reads.
 *
 * Uncompressed layers: the tarball only travels from this disk to containerd on the same disk,
 * so gzip would cost seconds per build and save nothing.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** One entry of the root filesystem. Paths inside the image are absolute. */
export type RootfsEntry =
  | { kind: "file"; path: string; from: string; mode?: number }
  | { kind: "text"; path: string; content: string; mode?: number }
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "symlink"; path: string; target: string };

/** What the image runs: the fields of an OCI image config that the Dockerfiles also set. */
export interface ImageConfig {
  entrypoint: string[];
  cmd?: string[];
  /** `uid:gid`, numeric (Kubernetes' runAsNonRoot can only check numeric users). */
  user: string;
  exposedPorts: number[];
  env?: string[];
  workingDir?: string;
  labels?: Record<string, string>;
}

export interface BuiltImage {
  /** Fully qualified, as containerd and the kubelet name it: docker.io/pilotfish/proxy:1.40.0 */
  reference: string;
  tarball: string;
  manifestDigest: string;
  /** True when the tarball came from the cache. */
  cached: boolean;
}

/** `pilotfish/proxy:1.40.0` → `docker.io/pilotfish/proxy:1.40.0` (the CRI's normalisation). */
export function normalizeReference(reference: string): string {
  const [first] = reference.split("/");
  const hasRegistry = reference.includes("/") && first !== undefined && (first.includes(".") || first.includes(":") || first === "localhost");
  if (hasRegistry) return reference;
  return reference.includes("/") ? `docker.io/${reference}` : `docker.io/library/${reference}`;
}

function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * A key for the cache: the config and every entry (files by path, size and mtime — hashing a
 * 100 MB binary on every run would cost more than the cache saves).
 */
export function contentKey(entries: readonly RootfsEntry[]): string {
  const hash = createHash("sha256");
  for (const entry of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    if (entry.kind === "file") {
      const stat = statSync(entry.from);
      hash.update(JSON.stringify([entry.path, entry.from, stat.size, stat.mtimeMs, entry.mode ?? null]));
    } else {
      hash.update(JSON.stringify(entry));
    }
  }
  return hash.digest("hex").slice(0, 16);
}

function stage(root: string, entries: readonly RootfsEntry[]): void {
  for (const entry of entries) {
    const target = join(root, entry.path);
    mkdirSync(dirname(target), { recursive: true });
    switch (entry.kind) {
      case "dir":
        mkdirSync(target, { recursive: true });
        chmodSync(target, entry.mode ?? 0o755);
        break;
      case "file":
        copyFileSync(entry.from, target);
        chmodSync(target, entry.mode ?? (statSync(entry.from).mode & 0o777));
        break;
      case "text":
        writeFileSync(target, entry.content);
        chmodSync(target, entry.mode ?? 0o644);
        break;
      case "symlink":
        rmSync(target, { force: true });
        symlinkSync(entry.target, target);
        break;
    }
  }
}

/**
 * Builds `reference` into `outDir/<name>-<key>.tar`, or reuses that file if it exists. `inputs`
 * is whatever identifies the contents cheaply (see contentKey); `entries` is called only when
 * the image must be built, so an expensive staging step (a TypeScript build) runs only then. It
 * stages into the `scratch` folder it is given, which is removed with the build's work folder.
 */
export function buildImage(
  reference: string,
  config: ImageConfig,
  inputs: string,
  entries: (scratch: string) => readonly RootfsEntry[],
  outDir: string,
): BuiltImage {
  const fullReference = normalizeReference(reference);
  const key = createHash("sha256").update(JSON.stringify({ fullReference, config, inputs })).digest("hex").slice(0, 16);
  const base = fullReference.replace(/^docker\.io\//, "").replace(/[/:]/g, "_");
  const tarball = join(outDir, `${base}-${key}.tar`);
  const digestFile = `${tarball}.digest`;
  try {
    return { reference: fullReference, tarball, manifestDigest: readFileSync(digestFile, "utf8").trim(), cached: true };
  } catch {
    // not built yet
  }
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "pilotfish-image-"));
  try {
    const root = join(work, "rootfs");
    mkdirSync(root);
    const scratch = join(work, "scratch");
    mkdirSync(scratch);
    stage(root, entries(scratch));
    const layout = join(work, "layout");
    const blobs = join(layout, "blobs", "sha256");
    mkdirSync(blobs, { recursive: true });
    const layerPath = join(work, "layer.tar");
    execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "--format=posix",
      "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime", "-C", root, "-cf", layerPath, "."]);
    const layer = readFileSync(layerPath);
    const layerDigest = sha256(layer);
    renameSync(layerPath, join(blobs, layerDigest));
    const blob = (json: unknown): { digest: string; size: number } => {
      const bytes = Buffer.from(JSON.stringify(json));
      const digest = sha256(bytes);
      writeFileSync(join(blobs, digest), bytes);
      return { digest: `sha256:${digest}`, size: bytes.length };
    };
    const imageConfig = blob({
      architecture: "amd64",
      os: "linux",
      config: {
        User: config.user,
        Entrypoint: config.entrypoint,
        ...(config.cmd ? { Cmd: config.cmd } : {}),
        Env: config.env ?? ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"],
        WorkingDir: config.workingDir ?? "/",
        ExposedPorts: Object.fromEntries(config.exposedPorts.map((port) => [`${port}/tcp`, {}])),
        Labels: config.labels ?? {},
      },
      rootfs: { type: "layers", diff_ids: [`sha256:${layerDigest}`] },
      history: [{ created_by: "pilotfish scripts/images (local rootfs)" }],
    });
    const manifest = blob({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...imageConfig },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${layerDigest}`, size: layer.length }],
    });
    const tag = fullReference.slice(fullReference.lastIndexOf(":") + 1);
    writeFileSync(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    writeFileSync(join(layout, "index.json"), JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        annotations: { "io.containerd.image.name": fullReference, "org.opencontainers.image.ref.name": tag },
      }],
    }));
    const partial = `${tarball}.partial`;
    execFileSync("tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", layout, "-cf", partial, "oci-layout", "index.json", "blobs"]);
    renameSync(partial, tarball);
    writeFileSync(digestFile, `${manifest.digest}\n`);
    return { reference: fullReference, tarball, manifestDigest: manifest.digest, cached: false };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * A dynamically linked program and every shared library it loads (ldd's list, the dynamic
 * loader included), each at the path the program looks for it. Symlinked libraries are copied
 * as the file they point to.
 */
export function programWithLibraries(hostPath: string, imagePath: string): RootfsEntry[] {
  const entries: RootfsEntry[] = [{ kind: "file", path: imagePath, from: hostPath, mode: 0o755 }];
  let output: string;
  try {
    output = execFileSync("ldd", [hostPath], { encoding: "utf8" });
  } catch {
    return entries; // statically linked ("not a dynamic executable" exits non-zero)
  }
  for (const line of output.split("\n")) {
    const arrow = /^\s*\S+ => (\/\S+) \(/.exec(line);
    const direct = /^\s*(\/\S+) \(/.exec(line);
    const library = arrow?.[1] ?? direct?.[1];
    if (library) entries.push({ kind: "file", path: library, from: library, mode: 0o755 });
  }
  return entries;
}

/** /etc/passwd and /etc/group with root and the image's user, and a sticky /tmp. */
export function baseEntries(user: { uid: number; gid: number; name: string }): RootfsEntry[] {
  const passwd = `root:x:0:0:root:/root:/sbin/nologin\n${user.uid === 0 ? "" : `${user.name}:x:${user.uid}:${user.gid}:${user.name}:/home/${user.name}:/sbin/nologin\n`}`;
  const group = `root:x:0:\n${user.gid === 0 ? "" : `${user.name}:x:${user.gid}:\n`}`;
  return [
    { kind: "text", path: "/etc/passwd", content: passwd },
    { kind: "text", path: "/etc/group", content: group },
    { kind: "dir", path: "/tmp", mode: 0o1777 },
  ];
}
