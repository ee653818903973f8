/**
 * How tests run the pilotfish CLI as a process: one place, so switching every test from the
 * TypeScript sources (under tsx) to a prebuilt dist/ is a change here only.
 */
import { execFile, type ExecFileOptions } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "./paths.js";

/** The command and arguments that start `pilotfish`, before the verb. */
export function cliCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: ["--import", "tsx", join(repoRoot, "src", "cli", "main.ts")] };
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
