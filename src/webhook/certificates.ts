/**
 * The webhook's own PKI (ADR 0004): a CA kept in a Secret in the operator's namespace (created by
 * the first replica that finds none; every replica uses the same one, so one caBundle fits all),
 * and a serving certificate each replica issues for itself, in memory only, renewed at two thirds
 * of its lifetime.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createCa, issueCertificate } from "../pki/index.js";
import type { CertificateAuthority } from "../pki/index.js";
import { KubeApiError } from "../sources/kube/rest.js";
import type { KubeObject, KubeRest } from "../sources/kube/rest.js";
import type { ServingCertificate } from "./server.js";

export const caCertKey = "ca-cert.pem";
export const caKeyKey = "ca-key.pem";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * loadOrCreateCa until it succeeds: the CA is needed before anything can be served, so API errors
 * are retried with a capped back-off (0.5 s doubling to 30 s), never fatal. The webhook and the xDS
 * server share this.
 */
export async function loadCaWithRetry(
  rest: KubeRest,
  namespace: string,
  name: string,
  what: string,
  logger: { warn(message: string): void },
): Promise<{ ca: CertificateAuthority; created: boolean }> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await loadOrCreateCa(rest, namespace, name);
    } catch (error) {
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
      logger.warn(`${what} CA Secret ${namespace}/${name}: ${(error as Error).message}; retrying in ${delay} ms`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** The CA from the Secret, creating the Secret when there is none (a replica that loses the create race reads the winner's). */
export async function loadOrCreateCa(rest: KubeRest, namespace: string, name: string): Promise<{ ca: CertificateAuthority; created: boolean }> {
  const path = `/api/v1/namespaces/${namespace}/secrets/${name}`;
  const read = (secret: KubeObject): CertificateAuthority => {
    const data = (secret.data ?? {}) as Record<string, string>;
    const cert = data[caCertKey];
    const key = data[caKeyKey];
    if (!cert || !key) throw new Error(`Secret ${namespace}/${name} lacks ${caCertKey} or ${caKeyKey}`);
    const certificatePem = Buffer.from(cert, "base64").toString("utf8");
    const privateKeyPem = Buffer.from(key, "base64").toString("utf8");
    const keyAlgorithm = new X509Certificate(certificatePem).publicKey.asymmetricKeyType === "rsa" ? "rsa-2048" : "ecdsa-p256";
    return { commonName: new X509Certificate(certificatePem).subject, keyAlgorithm, certificatePem, privateKeyPem, chainPem: certificatePem };
  };
  const existing = await rest.get(path);
  if (existing) return { ca: read(existing), created: false };
  const ca = await createCa({ commonName: "pilotfish webhook CA", organization: "pilotfish", validityDays: 3650 });
  try {
    await rest.create(`/api/v1/namespaces/${namespace}/secrets`, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace, labels: { "app.kubernetes.io/name": "pilotfish", "app.kubernetes.io/component": "webhook" } },
      type: "Opaque",
      data: { [caCertKey]: Buffer.from(ca.certificatePem).toString("base64"), [caKeyKey]: Buffer.from(ca.privateKeyPem).toString("base64") },
    });
    return { ca, created: true };
  } catch (error) {
    if (error instanceof KubeApiError && error.statusCode === 409) {
      const winner = await rest.get(path);
      if (winner) return { ca: read(winner), created: false };
    }
    throw error;
  }
}

export interface IssuedServing extends ServingCertificate {
  /** When it was issued (notBefore is backdated a few minutes for lagging clocks). */
  issuedAt: Date;
  notAfter: Date;
}

/** A serving certificate for the webhook's names: DNS names and IP addresses mixed. */
export async function issueServing(ca: CertificateAuthority, hosts: readonly string[], validityMs: number, now = new Date()): Promise<IssuedServing> {
  const ips = hosts.filter((host) => /^[\d.]+$/.test(host) || host.includes(":"));
  const dns = hosts.filter((host) => !ips.includes(host));
  const issued = await issueCertificate(ca, {
    commonName: dns[0] ?? ips[0] ?? "pilotfish-webhook",
    dnsNames: dns,
    ipAddresses: ips,
    usage: "server",
    validityDays: validityMs / DAY_MS,
    now,
  });
  const parsed = new X509Certificate(issued.certificatePem);
  return { certificatePem: issued.fullChainPem, privateKeyPem: issued.privateKeyPem, issuedAt: now, notAfter: new Date(parsed.validTo) };
}

/** When to renew: two thirds of the way from issue to expiry (a 30-day certificate is renewed with 10 days left). */
export function renewAt(issuedAt: Date, notAfter: Date): Date {
  return new Date(issuedAt.getTime() + ((notAfter.getTime() - issuedAt.getTime()) * 2) / 3);
}

/** What keepRenewed needs: the CA and names to issue for, and what to do with each new certificate. */
export interface RenewalOptions {
  ca: CertificateAuthority;
  hosts: readonly string[];
  validityMs: number;
  /** The certificate in service now. */
  initial: IssuedServing;
  /** Puts a new certificate in service (existing connections keep theirs). */
  apply(next: IssuedServing): void;
  /** Names the server in the log lines ("webhook", "xDS"). */
  what: string;
  logger: { info(message: string): void; error(message: string): void };
}

/**
 * Keeps a serving certificate fresh: re-issues it at renewAt and hands it to `apply`; a failed
 * issue is logged and retried on the next timer. The webhook and the xDS server share this loop.
 */
export function keepRenewed(options: RenewalOptions): { current(): IssuedServing; stop(): void } {
  let serving = options.initial;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    // setTimeout holds at most ~24.8 days; a longer wait is taken in steps.
    const wait = Math.max(1000, Math.min(renewAt(serving.issuedAt, serving.notAfter).getTime() - Date.now(), 2 ** 31 - 1));
    timer = setTimeout(() => void renew(), wait);
    timer.unref();
  };
  const renew = async (): Promise<void> => {
    if (closed) return;
    if (Date.now() >= renewAt(serving.issuedAt, serving.notAfter).getTime()) {
      try {
        const next = await issueServing(options.ca, options.hosts, options.validityMs);
        if (closed) return;
        options.apply(next);
        serving = next;
        options.logger.info(`${options.what} serving certificate renewed, valid until ${serving.notAfter.toISOString()}`);
      } catch (error) {
        options.logger.error(`${options.what} serving certificate renewal failed, retrying: ${(error as Error).message}`);
      }
    }
    if (!closed) schedule();
  };
  schedule();
  return {
    current: () => serving,
    stop: () => {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** Where cert-manager (or any issuer) writes a kubernetes.io/tls Secret: the keys it uses. */
export const tlsCertKey = "tls.crt";
export const tlsKeyKey = "tls.key";

/**
 * A serving certificate from a kubernetes.io/tls Secret as cert-manager writes it (tls.crt: the
 * leaf then its chain; tls.key: its key; ca.crt: the issuer's CA, which the injector copies into
 * caBundle and which the server does not need). Throws when a key is missing or does not match.
 */
export function servingFromTlsSecret(secret: KubeObject): IssuedServing {
  const data = (secret.data ?? {}) as Record<string, string>;
  const cert = data[tlsCertKey];
  const key = data[tlsKeyKey];
  const name = `${secret.metadata?.namespace ?? ""}/${secret.metadata?.name ?? ""}`;
  if (!cert || !key) throw new Error(`Secret ${name} lacks ${tlsCertKey} or ${tlsKeyKey} (not issued yet?)`);
  const certificatePem = Buffer.from(cert, "base64").toString("utf8");
  const privateKeyPem = Buffer.from(key, "base64").toString("utf8");
  const leaf = new X509Certificate(certificatePem);
  if (!leaf.checkPrivateKey(createPrivateKey(privateKeyPem))) throw new Error(`Secret ${name}: ${tlsKeyKey} is not the key of ${tlsCertKey}`);
  return { certificatePem, privateKeyPem, issuedAt: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo) };
}

export interface SecretFollowerOptions {
  rest: KubeRest;
  namespace: string;
  name: string;
  /** Between two reads of the Secret (cert-manager renews at two thirds of the lifetime: seconds of lag are fine). */
  intervalMs: number;
  /** Puts a new certificate in service (existing connections keep theirs). */
  apply(next: IssuedServing): void;
  what: string;
  logger: { info(message: string): void; warn(message: string): void };
}

/**
 * The serving certificate from a Secret someone else issues and rotates (cert-manager): waits
 * until the Secret holds a usable certificate, then re-reads it every intervalMs and hands each
 * new one to `apply`. A Secret that goes missing or turns unusable is logged and the current
 * certificate kept. Resolves with the first certificate and the loop's stop.
 */
export async function followTlsSecret(options: SecretFollowerOptions): Promise<{ initial: IssuedServing; stop(): void }> {
  const path = `/api/v1/namespaces/${options.namespace}/secrets/${options.name}`;
  const where = `Secret ${options.namespace}/${options.name}`;
  let version: string | undefined;
  let lastProblem = "";
  /** The certificate when the Secret changed and is usable, else undefined (problems logged once each). */
  const read = async (): Promise<IssuedServing | undefined> => {
    try {
      const secret = await options.rest.get(path);
      if (!secret) throw new Error(`${where} not found (waiting for cert-manager to issue it)`);
      if (secret.metadata?.resourceVersion === version) return undefined;
      const serving = servingFromTlsSecret(secret);
      version = secret.metadata?.resourceVersion;
      lastProblem = "";
      return serving;
    } catch (error) {
      const problem = (error as Error).message;
      if (problem !== lastProblem) options.logger.warn(`${options.what} serving certificate: ${problem}; keeping the current one and retrying every ${options.intervalMs} ms`);
      lastProblem = problem;
      return undefined;
    }
  };
  let initial = await read();
  while (!initial) {
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
    initial = await read();
  }
  options.logger.info(`${options.what} serving certificate read from ${where}, valid until ${initial.notAfter.toISOString()}`);
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async (): Promise<void> => {
    const next = await read();
    if (closed) return;
    if (next) {
      options.apply(next);
      options.logger.info(`${options.what} serving certificate reloaded from ${where}, valid until ${next.notAfter.toISOString()}`);
    }
    timer = setTimeout(() => void poll(), options.intervalMs);
    timer.unref();
  };
  timer = setTimeout(() => void poll(), options.intervalMs);
  timer.unref();
  return {
    initial,
    stop: () => {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}
