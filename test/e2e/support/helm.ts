import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { benchTool } from "../../support/paths.js";

const execFileAsync = promisify(execFile);

/**
 * The bench's helm against one cluster, with helm's config, cache and data under `home` (a test's
 * temporary folder), never the user's. Throws with helm's output when it fails.
 */
export function helmFor(kubeconfigPath: string, home: string): (args: readonly string[]) => Promise<string> {
  return async (args) => {
    try {
      const { stdout } = await execFileAsync(benchTool("helm"), [...args], {
        maxBuffer: 32 * 1024 * 1024,
        env: { ...process.env, KUBECONFIG: kubeconfigPath, HELM_CONFIG_HOME: join(home, "config"), HELM_CACHE_HOME: join(home, "cache"), HELM_DATA_HOME: join(home, "data") },
      });
      return stdout;
    } catch (error) {
      const failure = error as Error & { stderr?: string; stdout?: string };
      throw new Error(`helm ${args.join(" ")} failed: ${failure.stderr ?? ""}${failure.stdout ?? ""}${failure.message}`);
    }
  };
}

/**
 * helm values for the bench's node, which has no cluster DNS: the gateway's agent reaches the
 * operator's Service through Kubernetes' service variables (kubelet expands them in args; the
 * Service exists before the gateway pods). The TLS name checked stays pilotfish.<ns>.svc.
 */
export const benchAgentUpstream: readonly string[] = ["--set", "gateway.agentUpstream=$(PILOTFISH_SERVICE_HOST):15010"];
