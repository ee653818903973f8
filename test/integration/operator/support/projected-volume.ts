/**
 * What kubelet does with a projected volume of ConfigMaps and Secrets, for Envoy reading a
 * directory on the bench without a node (atomic_writer.go's layout):
 *
 *   <dir>/..<timestamp>/<key>     the payload, one directory per version
 *   <dir>/..data -> ..<timestamp> swapped atomically (symlink ..data_tmp, rename over ..data)
 *   <dir>/<key> -> ..data/<key>   one symlink per key, created once, removed when the key goes
 *
 * Envoy's `watched_directory` sees the rename of ..data (a move into the directory) and reloads
 * every path_config_source that lives there.
 */
import { mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export type Payload = Record<string, string>;

let version = 0;

export class ProjectedVolume {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Writes a new version of the whole payload and swaps ..data to it. */
  sync(payload: Payload): void {
    const keys = Object.keys(payload).sort();
    const versionDir = `..${new Date().toISOString().replace(/[:.]/g, "_")}.${process.pid}.${++version}`;
    mkdirSync(join(this.dir, versionDir));
    for (const key of keys) writeFileSync(join(this.dir, versionDir, key), payload[key] ?? "");
    let previous: string | undefined;
    try {
      previous = readlinkSync(join(this.dir, "..data"));
    } catch {
      previous = undefined;
    }
    symlinkSync(versionDir, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    const existing = new Set(readdirSync(this.dir).filter((name) => !name.startsWith("..")));
    for (const key of keys) if (!existing.has(key)) symlinkSync(join("..data", key), join(this.dir, key));
    for (const name of existing) if (!keys.includes(name)) rmSync(join(this.dir, name));
    if (previous) rmSync(join(this.dir, previous), { recursive: true, force: true });
  }
}

/** The payload of published objects as kubelet projects them (Secret values base64-decoded). */
export function payloadOf(objects: readonly { kind?: string; data?: Record<string, string> }[]): Payload {
  const payload: Payload = {};
  for (const object of objects) {
    for (const [key, value] of Object.entries(object.data ?? {})) {
      payload[key] = object.kind === "Secret" ? Buffer.from(value, "base64").toString("utf8") : value;
    }
  }
  return payload;
}
