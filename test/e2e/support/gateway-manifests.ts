import { join } from "node:path";
import { repoRoot } from "../../support/paths.js";

/**
 * `kubectl apply -f` arguments for config/gateway in files mode: the namespace, the Service and
 * config/gateway/files' Deployment instead of the default agent-mode one. For tests that run the
 * operator on the host (started with --gateway-mode files): the gateway pod then needs only the
 * proxy image and reads what the operator publishes, with no connection to it.
 */
export const filesModeGatewayArgs: readonly string[] = ["00-namespace.yaml", "service.yaml", join("files", "deployment.yaml")].flatMap((file) => ["-f", join(repoRoot, "config", "gateway", file)]);
