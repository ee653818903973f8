import { spawn } from "node:child_process";
import type { ChildProcess, SpawnOptions } from "node:child_process";

/**
 * Every long-running process a test starts (Envoy, etcd, kube-apiserver, ...) goes through
 * spawnManaged so that one registry can kill them all when the test process ends for any reason:
 * normal exit, an uncaught failure, or SIGINT/SIGTERM from the user or the test runner. Without
 * this, an interrupted run leaves servers holding ports and shared memory behind.
 */

/** Keeps the last `maxLines` lines of a process's output; older lines are dropped. */
export class OutputRing {
  private readonly lines: string[] = [];
  private partial = "";
  private dropped = 0;

  constructor(private readonly maxLines = 5000) {}

  push(chunk: string): void {
    const parts = (this.partial + chunk).split("\n");
    this.partial = parts.pop() ?? "";
    for (const line of parts) {
      this.lines.push(line);
      if (this.lines.length > this.maxLines) {
        this.lines.shift();
        this.dropped++;
      }
    }
  }

  text(): string {
    const head = this.dropped > 0 ? `[... ${this.dropped} earlier lines dropped ...]\n` : "";
    const tail = this.partial ? `${this.partial}\n` : "";
    return head + this.lines.map((line) => `${line}\n`).join("") + tail;
  }
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  /** Label used in messages (defaults to the command's base name). */
  name: string;
  child: ChildProcess;
  /** stdout and stderr interleaved in arrival order. */
  output: OutputRing;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<ExitStatus>;
  /** Set once the process has exited. */
  exitStatus: ExitStatus | undefined;
}

export interface SpawnManagedOptions {
  name?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How many output lines to keep (default 5000). */
  maxLines?: number;
}

const running = new Set<ManagedProcess>();
const cleanups = new Set<() => void>();
let exitHooksInstalled = false;

function killAllNow(): void {
  for (const managed of running) {
    if (managed.exitStatus === undefined) managed.child.kill("SIGKILL");
  }
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // Best effort at exit: one failing cleanup must not stop the others.
    }
  }
}

/**
 * Runs `cleanup` (synchronous: removing temp files and the like) when the test process exits or
 * is interrupted, unless the returned function is called first to cancel it.
 */
export function cleanupAtExit(cleanup: () => void): () => void {
  installExitHooks();
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL is the only signal we can send and forget.
  process.once("exit", killAllNow);
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const) {
    process.once(signal, () => {
      killAllNow();
      process.exit(code);
    });
  }
}

export function spawnManaged(command: string, args: readonly string[], options: SpawnManagedOptions = {}): ManagedProcess {
  installExitHooks();
  const spawnOptions: SpawnOptions = {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  };
  const child = spawn(command, args, spawnOptions);
  const output = new OutputRing(options.maxLines);
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => output.push(chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => output.push(chunk));

  const managed: ManagedProcess = {
    name: options.name ?? command.split("/").pop() ?? command,
    child,
    output,
    exitStatus: undefined,
    exited: new Promise<ExitStatus>((resolve) => {
      child.once("exit", (code, signal) => {
        managed.exitStatus = { code, signal };
        running.delete(managed);
        resolve(managed.exitStatus);
      });
      // A spawn failure (ENOENT, EACCES) emits 'error' and maybe no 'exit'.
      child.once("error", (error) => {
        output.push(`[spawn error] ${error.message}\n`);
        if (managed.exitStatus === undefined) {
          managed.exitStatus = { code: null, signal: null };
          running.delete(managed);
          resolve(managed.exitStatus);
        }
      });
    }),
  };
  running.add(managed);
  return managed;
}

/** SIGTERM, then SIGKILL if the process has not exited after `graceMs`. */
export async function stopManaged(managed: ManagedProcess, graceMs = 5000): Promise<ExitStatus> {
  if (managed.exitStatus !== undefined) return managed.exitStatus;
  managed.child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), graceMs);
  });
  const first = await Promise.race([managed.exited, forced]);
  clearTimeout(timer);
  if (first === "timeout") {
    managed.output.push(`[harness] ${managed.name} ignored SIGTERM for ${graceMs} ms; sending SIGKILL\n`);
    managed.child.kill("SIGKILL");
    return managed.exited;
  }
  return first;
}

/** Processes started through spawnManaged that have not exited yet (for diagnostics). */
export function runningProcesses(): readonly ManagedProcess[] {
  return [...running];
}
