/**
 * Reading a pod's network namespace from the host: the PID of one of its running containers
 * (containerd's task list), then `nsenter -t PID -n <command>`.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import type { Cluster } from "../../support/cluster.js";
import { benchDir } from "../../support/paths.js";

export async function podPid(cluster: Cluster, namespace: string, pod: string, container: string): Promise<string> {
  const statuses = JSON.parse(await cluster.kubectlOk(["get", "pod", pod, "-o", "jsonpath={.status.containerStatuses}"], { namespace })) as Array<{ name: string; containerID?: string }>;
  const id = statuses.find((status) => status.name === container)?.containerID?.replace(/^containerd:\/\//, "");
  if (!id) throw new Error(`pod ${namespace}/${pod} has no running container ${container}`);
  const tasks = execFileSync(join(benchDir(), "bin", "ctr"), ["--address", join(cluster.dir, "containerd", "containerd.sock"), "--namespace", "k8s.io", "tasks", "ls"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const pid = tasks.split("\n").find((line) => line.startsWith(id))?.split(/\s+/)[1];
  if (!pid) throw new Error(`container ${id} has no running task:\n${tasks}`);
  return pid;
}

/** Runs a host command in the pod's network namespace (nsenter -n). */
export function inPodNetns(pid: string, command: string, args: readonly string[]): string {
  return execFileSync("nsenter", ["-t", pid, "-n", command, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
