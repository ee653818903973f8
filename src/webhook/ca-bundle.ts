/**
 * Keeps `caBundle` of the operator's webhook configurations equal to its CA (Istio's
 * WebhookCertPatcher): GET each configuration by name, and for every webhook whose
 * `clientConfig.caBundle` differs, a JSON Patch that `test`s the webhook's name at that index and
 * `replace`s (or `add`s) only its caBundle — nothing else of the object is written, so the
 * failurePolicy, selectors and rules stay whatever the user applied. Run by every replica (the
 * patch is idempotent); repeated every `resyncMs` so a re-applied configuration (empty caBundle)
 * is fixed within one period; errors retry with back-off. With leader election only the leader
 * patches (the write gate refuses a standby's PATCH, which then waits for the next period).
 */
import type { Logger } from "../controllers/log.js";
import { KubeApiError, NotLeaderError } from "../sources/kube/rest.js";
import type { KubeObject, KubeRest } from "../sources/kube/rest.js";

export interface WebhookConfigurationRef {
  kind: "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration";
  name: string;
}

const pathOf = (ref: WebhookConfigurationRef): string =>
  `/apis/admissionregistration.k8s.io/v1/${ref.kind === "MutatingWebhookConfiguration" ? "mutatingwebhookconfigurations" : "validatingwebhookconfigurations"}/${ref.name}`;

export interface CaBundlePatch {
  op: "test" | "replace" | "add";
  path: string;
  value: string;
}

/** The patch that brings every webhook's caBundle to `caBundle` (base64 PEM); empty when all match. */
export function caBundlePatch(configuration: KubeObject, caBundle: string): CaBundlePatch[] {
  const webhooks = (configuration.webhooks ?? []) as Array<{ name?: string; clientConfig?: { caBundle?: string } }>;
  return webhooks.flatMap((webhook, index) => {
    if (webhook.clientConfig?.caBundle === caBundle) return [];
    return [
      { op: "test" as const, path: `/webhooks/${index}/name`, value: webhook.name ?? "" },
      { op: webhook.clientConfig?.caBundle === undefined ? ("add" as const) : ("replace" as const), path: `/webhooks/${index}/clientConfig/caBundle`, value: caBundle },
    ];
  });
}

export interface CaBundlePatcherOptions {
  rest: KubeRest;
  configurations: readonly WebhookConfigurationRef[];
  /** The CA certificate(s), PEM. */
  caPem: string;
  resyncMs: number;
  logger: Logger;
}

export class CaBundlePatcher {
  readonly #options: CaBundlePatcherOptions;
  readonly #caBundle: string;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failures = 0;
  readonly #missingLogged = new Set<string>();

  constructor(options: CaBundlePatcherOptions) {
    this.#options = options;
    this.#caBundle = Buffer.from(options.caPem).toString("base64");
  }

  start(): void {
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** One pass over the configurations; true when every existing one is current. */
  async syncOnce(): Promise<boolean> {
    let ok = true;
    for (const ref of this.#options.configurations) {
      const path = pathOf(ref);
      const configuration = await this.#options.rest.get(path);
      if (!configuration) {
        if (!this.#missingLogged.has(ref.name)) this.#options.logger.info(`${ref.kind} ${ref.name} not found; its caBundle is set once it is applied`);
        this.#missingLogged.add(ref.name);
        continue;
      }
      this.#missingLogged.delete(ref.name);
      const patch = caBundlePatch(configuration, this.#caBundle);
      if (patch.length === 0) continue;
      try {
        await this.#options.rest.request("PATCH", path, { body: patch, contentType: "application/json-patch+json" });
        this.#options.logger.info(`patched caBundle of ${patch.length / 2} webhook(s) in ${ref.kind} ${ref.name}`);
      } catch (error) {
        // A failed `test` (webhooks reordered meanwhile) is 422: try again next pass.
        if (error instanceof KubeApiError && error.statusCode === 422) ok = false;
        // A standby replica: the leader patches; this one checks again next period.
        else if (error instanceof NotLeaderError) return true;
        else throw error;
      }
    }
    return ok;
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    let delay = this.#options.resyncMs;
    try {
      const current = await this.syncOnce();
      this.#failures = 0;
      if (!current) delay = 1000;
    } catch (error) {
      this.#failures += 1;
      delay = Math.min(30_000, 500 * 2 ** Math.min(this.#failures, 6));
      this.#options.logger.warn(`caBundle sync failed, retrying in ${delay} ms: ${(error as Error).message}`);
    }
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#run(), delay);
    this.#timer.unref();
  }
}
