import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { repoRoot } from "./paths.js";

/**
 * The book's lab manifests and certificates live outside the project (../shared/labs); tests
 * read them from there at run time and never copy them in. Under CI a missing folder is a
 * failure; on a developer's clone without ../shared the lab tests are skipped.
 */
export function labsDir(): string | undefined {
  const dir = resolve(process.env.LABS_DIR ?? join(repoRoot, "..", "shared", "labs"));
  if (existsSync(dir)) return dir;
  if (process.env.CI) {
    throw new Error(`LABS_DIR ${dir} does not exist; CI must run with the labs beside the clone`);
  }
  return undefined;
}

/** For `test(name, { skip: labsSkip() }, ...)`: a reason to skip, or false when labs exist. */
export function labsSkip(): string | false {
  return labsDir() ? false : "labs folder not found (set LABS_DIR to ../shared/labs)";
}

/** Path of a file inside the labs folder; throws when the labs are absent (guard with labsSkip). */
export function labPath(...parts: string[]): string {
  const dir = labsDir();
  if (!dir) throw new Error("labs folder not found (set LABS_DIR)");
  return join(dir, ...parts);
}
