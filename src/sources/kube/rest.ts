/**
 * A small JSON client for the Kubernetes API over node:https, authenticated by a KubeConfig
 * (kubeconfig file, in-cluster token, exec plugins: client-node applies them).
 *
 * Why not client-node's typed APIs: they deserialize into classes (`creationTimestamp` becomes
 * a Date, unknown fields are dropped) while watch events arrive as plain JSON; the snapshot model
 * wants one shape, the one `kubectl get -o json` shows. Server-side apply is one PATCH with
 * `application/apply-patch+yaml` (JSON is valid YAML).
 */
import http from "node:http";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

export type KubeObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    generation?: number;
  };
};

export interface KubeList<T extends KubeObject = KubeObject> {
  items: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

export class KubeApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly statusCode: number,
    readonly reason: string,
    message: string,
  ) {
    super(`${method} ${path}: ${statusCode} ${reason}: ${message}`);
  }
}

/**
 * A write refused locally because this replica does not hold the leader Lease
 * (src/controllers/leader.ts): nothing was sent.
 */
export class NotLeaderError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: not sent, this replica is not the leader`);
  }
}

export interface KubeRestOptions {
  /**
   * Asked before every request that writes (anything but GET/HEAD; TokenReview and
   * SubjectAccessReview POSTs write nothing and pass): false → NotLeaderError. Absent: always write.
   */
  mayWrite?: () => boolean;
}

/** POSTs that ask a question and store nothing. */
const reviewPath = /^\/apis\/(authentication|authorization)\.k8s\.io\//;

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | undefined>;
  timeoutMs?: number;
}

export class KubeRest {
  readonly #config: KubeConfig;
  readonly #server: URL;
  readonly #mayWrite: (() => boolean) | undefined;

  constructor(config: KubeConfig, options: KubeRestOptions = {}) {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    this.#config = config;
    this.#server = new URL(cluster.server);
    this.#mayWrite = options.mayWrite;
  }

  get server(): string {
    return this.#server.origin;
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<unknown> {
    const url = new URL(path, this.#server);
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(key, value);
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const requestOptions: https.RequestOptions = {
      method,
      headers: {
        accept: "application/json",
        ...(body ? { "content-type": options.contentType ?? "application/json", "content-length": String(body.length) } : {}),
      },
      timeout: options.timeoutMs ?? 30_000,
    };
    await this.#config.applyToHTTPSOptions(requestOptions);
    // Asked last, right before sending: a leader that lost the Lease meanwhile sends nothing.
    if (this.#mayWrite && method !== "GET" && method !== "HEAD" && !reviewPath.test(path) && !this.#mayWrite()) throw new NotLeaderError(method, path);
    const transport = url.protocol === "http:" ? http : https;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = transport.request(url, requestOptions, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        response.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within ${requestOptions.timeout} ms`)));
      req.on("error", reject);
      req.end(body);
    });
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (status < 200 || status >= 300) {
      const statusObject = (parsed ?? {}) as { reason?: string; message?: string };
      throw new KubeApiError(method, path, status, statusObject.reason ?? "", statusObject.message ?? String(text).slice(0, 300));
    }
    return parsed;
  }

  /** The object, or undefined when it does not exist. */
  async get<T extends KubeObject>(path: string): Promise<T | undefined> {
    try {
      return (await this.request("GET", path)) as T;
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  /** Every page of a list, with the resourceVersion to watch from. */
  async list<T extends KubeObject>(path: string, query: Record<string, string | undefined> = {}): Promise<KubeList<T>> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = (await this.request("GET", path, { query: { ...query, limit: "500", continue: continueToken } })) as KubeList<T>;
      items.push(...(page.items ?? []));
      resourceVersion = page.metadata?.resourceVersion;
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    return { items, metadata: { resourceVersion } };
  }

  /** Server-side apply: creates or updates the fields `fieldManager` owns. */
  async apply<T extends KubeObject>(path: string, body: KubeObject, fieldManager: string, force = true): Promise<T> {
    return (await this.request("PATCH", path, {
      body,
      contentType: "application/apply-patch+yaml",
      query: { fieldManager, force: force ? "true" : undefined },
    })) as T;
  }

  async create<T extends KubeObject>(path: string, body: KubeObject): Promise<T> {
    return (await this.request("POST", path, { body })) as T;
  }

  async patchMerge<T extends KubeObject>(path: string, body: unknown, fieldManager?: string): Promise<T> {
    return (await this.request("PATCH", path, { body, contentType: "application/merge-patch+json", query: { fieldManager } })) as T;
  }
}
