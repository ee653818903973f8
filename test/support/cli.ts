import { execFile, execFileSync, type ExecFileOptions } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { repoRoot } from "./paths.js";

/**
 * How tests start the pilotfish CLI: `process.execPath` with these arguments, then the CLI's own
 * (`[...cliNodeArgs(), "compile", ...]`, or runCli / cliCommand below). One place, so every test
 * starts it the same way.
 *
 * Tests start the CLI hundreds of times. Under tsx every start resolves and transpiles-from-cache
 * each module of src/ (about 3.5–4 s of CPU per start on the 2-core bench machine); a bundle of
 * src/cli/main.ts made by esbuild (tsx's own transpiler, so the same semantics; dependencies left
 * in node_modules) starts in about half of that. The bundle is named by a hash of src/ and the
 * build inputs, so it can never be stale: a changed source file makes a new bundle, built by the
 * first test process that needs it (~1 s) and reused by the rest. It lives in
 * node_modules/.cache/pilotfish-cli/<hash>/ (gitignored, thrown away by `npm ci`), next to node_modules so
 * that import.meta.url-relative lookups (createRequire, package.json) resolve as from src/.
 * Source maps are on: stack traces in a failing test still name src/ lines.
 * PILOTFISH_CLI=tsx runs src/cli/main.ts under tsx instead (no bundle step at all).
 */
export function cliNodeArgs(): readonly string[] {
  if (process.env.PILOTFISH_CLI === "tsx") return tsxArgs;
  try {
    return ["--enable-source-maps", cliBundle()];
  } catch (error) {
    process.stderr.write(`[cli] no bundle (${(error as Error).message.split("\n")[0]}); running the CLI under tsx\n`);
    return tsxArgs;
  }
}

/** The command and arguments that start `pilotfish`, before the verb. */
export function cliCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: [...cliNodeArgs()] };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `pilotfish ARGS` to its end (cwd: the repository, unless given) and returns its exit code and output. */
export function runCli(args: readonly string[], options: Omit<ExecFileOptions, "encoding"> = {}): Promise<CliResult> {
  const { command, args: prefix } = cliCommand();
  return new Promise((resolve) => {
    execFile(command, [...prefix, ...args], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024, ...options, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const tsxArgs = ["--import", "tsx", join(repoRoot, "src", "cli", "main.ts")] as const;
const bundleDir = join(repoRoot, "node_modules", ".cache", "pilotfish-cli");
let bundled: string | undefined;

/** The path of the bundle of the current src/, built if it does not exist yet. */
export function cliBundle(): string {
  if (bundled && existsSync(bundled)) return bundled;
  const hash = sourceHash();
  const out = join(bundleDir, hash, "main.mjs");
  if (!existsSync(out)) {
    // Built in a private folder at the same depth (the source map's paths are relative), then
    // renamed into place: parallel test processes never see half a bundle.
    const partialDir = join(bundleDir, `${hash}.${process.pid}.tmp`);
    rmSync(partialDir, { recursive: true, force: true });
    execFileSync(join(repoRoot, "node_modules", ".bin", "esbuild"), [join(repoRoot, "src", "cli", "main.ts"), "--bundle", "--platform=node", "--format=esm", "--packages=external", "--target=node20", "--sourcemap", `--outfile=${join(partialDir, "main.mjs")}`, "--log-level=error"], { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
    try {
      renameSync(partialDir, dirname(out));
    } catch (error) {
      rmSync(partialDir, { recursive: true, force: true });
      if (!existsSync(out)) throw error; // not "another process was first"
    }
    removeOldBundles(hash);
  }
  bundled = out;
  return out;
}

/** Hash of every file the bundle is made from (src/, package.json, tsconfig.json). */
function sourceHash(): string {
  const hash = createHash("sha256");
  const add = (path: string): void => {
    hash.update(relative(repoRoot, path)).update("\0").update(readFileSync(path)).update("\0");
  };
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else add(path);
    }
  };
  walk(join(repoRoot, "src"));
  add(join(repoRoot, "package.json"));
  add(join(repoRoot, "tsconfig.json"));
  return hash.digest("hex").slice(0, 16);
}

/** Keeps the folder from growing with every edit: bundles of older sources are removed. */
function removeOldBundles(keep: string): void {
  for (const name of readdirSync(bundleDir)) {
    if (name !== keep && !name.endsWith(".tmp")) rmSync(join(bundleDir, name), { recursive: true, force: true });
  }
}
