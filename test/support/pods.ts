import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./paths.js";
import { cleanupAtExit, spawnManaged, stopManaged } from "./processes.js";
import type { ManagedProcess } from "./processes.js";
import { waitFor } from "./net.js";

/**
 * "Pods" for tests that go through the real apiserver: the apiserver refuses loopback
 * addresses in EndpointSlices ("may not be in the loopback range"), so an upstream that must
 * appear as a pod endpoint runs in a network namespace of its own, on a bridge in the
 * benchmarking block 198.19.0.0/16 (never a private range; see DESIGN.md). The namespaces get no
 * default route, so nothing a test sends can leave the machine. Needs root and iproute2.
 */
export interface PodNetwork {
  /** The bridge's address in the host namespace: the source address pods see. */
  gateway: string;
  createPod(name: string): Promise<Pod>;
  destroy(): Promise<void>;
}

export interface Pod {
  name: string;
  /** Network namespace name (for `ip netns exec`). */
  netns: string;
  /** The pod IP, what an EndpointSlice lists. */
  address: string;
  /** Starts a managed process inside the pod's network namespace. */
  run(command: string, args: readonly string[], name?: string): ManagedProcess;
}

export interface PodUpstream {
  pod: Pod;
  port: number;
  process: ManagedProcess;
  /** Requests the upstream logged for exactly this path (httpbin only). */
  hits(path: string): number;
  stop(): Promise<void>;
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}


/**
 * Each pod network gets its own bridge and /24 so concurrent test files (`make integration` runs
 * two at a time) never share addresses: the third octet is 1..126, below the bench node's
 * addresses (node IP 198.19.127.1, pods 198.19.128.0/17: scripts/node.sh), claimed with a lock
 * file naming the holder's pid (pid % 126 alone let two processes pick the same /24).
 */
function claimSubnet(): { id: number; release: () => void } {
  for (let attempt = 0; attempt < 126; attempt++) {
    const id = ((process.pid + attempt) % 126) + 1;
    const lock = join(tmpdir(), `pilotfish-podnet-${id}.lock`);
    try {
      writeFileSync(lock, String(process.pid), { flag: "wx" });
    } catch {
      let holder = 0;
      try {
        holder = Number(readFileSync(lock, "utf8").trim());
      } catch {
        // released just now: take it
      }
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) continue; // this process's other network too
      writeFileSync(lock, String(process.pid)); // its holder died without releasing it
    }
    return { id, release: () => rmSync(lock, { force: true }) };
  }
  throw new Error("every pod subnet 198.19.1-126.0/24 is claimed (pilotfish-podnet-*.lock in the temp folder)");
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startPodNetwork(): Promise<PodNetwork> {
  if (process.getuid?.() !== 0) throw new Error("pod networks need root (ip netns, veth, bridge)");
  const { id, release } = claimSubnet();
  const prefix = `198.19.${id}`;
  const bridge = `pfbr${id}x${process.pid}`.slice(0, 15);
  const gateway = `${prefix}.1`;
  const pods: Pod[] = [];
  const namespaces: string[] = [];

  const teardown = (): void => {
    for (const netns of namespaces) {
      try {
        ip("netns", "del", netns);
      } catch {
        // already gone
      }
    }
    try {
      ip("link", "del", bridge);
    } catch {
      // already gone
    }
  };
  teardown();
  ip("link", "add", bridge, "type", "bridge");
  ip("addr", "add", `${gateway}/24`, "dev", bridge);
  ip("link", "set", bridge, "up");
  const forget = cleanupAtExit(() => {
    teardown();
    release();
  });

  return {
    gateway,
    async createPod(name: string): Promise<Pod> {
      const index = pods.length + 2;
      if (index > 254) throw new Error("pod network is full (253 pods)");
      const netns = `pf${process.pid}-${index}`;
      const hostSide = `pfh${process.pid % 100000}x${index}`.slice(0, 15);
      const address = `${prefix}.${index}`;
      ip("netns", "add", netns);
      namespaces.push(netns);
      ip("link", "add", hostSide, "type", "veth", "peer", "name", "eth0", "netns", netns);
      ip("link", "set", hostSide, "master", bridge, "up");
      ip("-n", netns, "addr", "add", `${address}/24`, "dev", "eth0");
      ip("-n", netns, "link", "set", "eth0", "up");
      ip("-n", netns, "link", "set", "lo", "up");
      const pod: Pod = {
        name,
        netns,
        address,
        run: (command, args, processName) =>
          spawnManaged("ip", ["netns", "exec", netns, command, ...args], { name: processName ?? `${name}:${command}` }),
      };
      pods.push(pod);
      return pod;
    },
    async destroy(): Promise<void> {
      teardown();
      release();
      forget();
    },
  };
}

/** Runs one of the bench upstreams (test/support/upstreams) inside a pod, as its own process. */
export async function startPodUpstream(
  pod: Pod,
  kind: "httpbin" | "tcp-echo",
  options: { port: number; name?: string },
): Promise<PodUpstream> {
  const name = options.name ?? pod.name;
  const managed = pod.run(
    process.execPath,
    ["--import", "tsx", join(repoRoot, "test", "support", "upstreams", "serve.ts"), kind, pod.address, String(options.port), name],
    `${pod.name}:${kind}`,
  );
  await waitFor(
    () => {
      if (managed.exitStatus) throw new Error(`${kind} in pod ${pod.name} exited:\n${managed.output.text()}`);
      return managed.output.text().includes("READY ") || undefined;
    },
    { timeoutMs: 20_000, intervalMs: 50, what: `${kind} in pod ${pod.name} to listen` },
  );
  return {
    pod,
    port: options.port,
    process: managed,
    hits: (path) => managed.output.text().split("\n").filter((line) => line.startsWith(`HIT ${path} `) || line === `HIT ${path}`).length,
    stop: async () => {
      await stopManaged(managed);
    },
  };
}
