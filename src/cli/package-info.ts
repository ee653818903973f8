import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface PackageInfo {
  name: string;
  version: string;
  description: string;
}

// The CLI runs both from src/ (tsx) and from dist/src/ (built), at different depths below
// package.json, so walk up instead of hard-coding a relative path.
export function readPackageInfo(from: string = fileURLToPath(import.meta.url)): PackageInfo {
  let dir = dirname(from);
  for (;;) {
    const candidate = join(dir, "package.json");
    if (existsSync(candidate)) {
      const parsed = JSON.parse(readFileSync(candidate, "utf8")) as Partial<PackageInfo>;
      if (parsed.name === "pilotfish") {
        return { name: parsed.name, version: parsed.version ?? "0.0.0", description: parsed.description ?? "" };
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package.json of pilotfish not found above ${from}`);
    dir = parent;
  }
}
