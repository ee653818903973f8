/**
 * The hostile input set (test/fixtures/hostile, README.md there): the YAML documents with their
 * `# reason:` and `# expect:` comments, plus the cases too big to keep as files, generated here.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { dump, load } from "js-yaml";
import { createCa, issueCertificate } from "../../../../src/pki/index.js";
import { repoRoot } from "../../../support/paths.js";

export const hostileDir = join(repoRoot, "test", "fixtures", "hostile");

export type Expectation =
  | { type: "rejected"; text: string }
  | { type: "invalid"; field: string }
  | { type: "status"; condition: string; status: "True" | "False"; reason?: string }
  | { type: "applied" };

export interface HostileCase {
  /** `file#index` or `generated:name`. */
  id: string;
  reason: string;
  expect: Expectation;
  /** The document as written (sent to kubectl unchanged). */
  text: string;
  kind: string;
  name: string;
  /** Apply server-side (objects whose last-applied annotation would exceed 256 KiB). */
  serverSide?: boolean;
}

export function parseExpectation(line: string, where: string): Expectation {
  const [type = "", ...rest] = line.trim().split(/\s+/);
  const text = line.trim().slice(type.length).trim();
  switch (type) {
    case "rejected":
      return { type, text };
    case "invalid":
      if (!text) throw new Error(`${where}: "expect: invalid" needs the field path`);
      return { type, field: text };
    case "applied":
      return { type };
    case "status": {
      const [condition = "", reason] = rest;
      const [type_ = "", status = "True"] = condition.split("=");
      if (!type_ || (status !== "True" && status !== "False")) throw new Error(`${where}: "expect: status ${text}": write Type[=True|False] [Reason]`);
      return { type: "status", condition: type_, status, ...(reason ? { reason } : {}) };
    }
    default:
      throw new Error(`${where}: unknown expectation "${line}"`);
  }
}

/** Every document of every file in test/fixtures/hostile, in apply order. */
export function hostileFileCases(dir = hostileDir): HostileCase[] {
  const cases: HostileCase[] = [];
  for (const file of readdirSync(dir).filter((name) => name.endsWith(".yaml")).sort()) {
    const documents = readFileSync(join(dir, file), "utf8").split(/^---[ \t]*$/m);
    documents.forEach((text, index) => {
      const where = `${file}#${index}`;
      const reason = /^# reason: (.+)$/m.exec(text)?.[1];
      const expect = /^# expect: (.+)$/m.exec(text)?.[1];
      if (!reason || !expect) throw new Error(`${where}: every document needs "# reason:" and "# expect:" comments`);
      const object = load(text) as { kind?: string; metadata?: { name?: string } } | undefined;
      cases.push({ id: where, reason, expect: parseExpectation(expect, where), text, kind: String(object?.kind ?? ""), name: String(object?.metadata?.name ?? "") });
    });
  }
  return cases;
}

const MIB = 1024 * 1024;

type Manifest = { apiVersion: string; kind: string; metadata: { name: string } } & Record<string, unknown>;

const generated = (reason: string, expect: Expectation, object: Manifest): HostileCase => ({
  id: `generated:${object.metadata.name}`,
  reason,
  expect,
  text: dump(object, { lineWidth: -1 }),
  kind: object.kind,
  name: object.metadata.name,
  serverSide: true,
});

/** A valid TLS Secret from pilotfish's own PKI, for `host` and `*.hostile.example`. */
export async function tlsSecret(name: string, host: string): Promise<{ manifest: string; caPem: string }> {
  const ca = await createCa({ commonName: `${name} CA` });
  const leaf = await issueCertificate(ca, { commonName: host, dnsNames: [host, "*.hostile.example"], usage: "server" });
  const manifest = dump({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name },
    type: "kubernetes.io/tls",
    stringData: { "tls.crt": leaf.fullChainPem, "tls.key": leaf.privateKeyPem },
  });
  return { manifest, caPem: ca.chainPem };
}

/** The cases too big for files (README.md's table). */
export async function generatedHostileCases(): Promise<HostileCase[]> {
  const credential = await tlsSecret("hostile-credential", "dup-tls.hostile.example");
  const garbage = randomBytes(1_000_000);
  return [
    {
      id: "generated:hostile-credential",
      reason: "a valid certificate some cases use (not hostile itself)",
      expect: { type: "applied" },
      text: credential.manifest,
      kind: "Secret",
      name: "hostile-credential",
    },
    generated("a VirtualService with 5,000 HTTP routes", { type: "status", condition: "Accepted", status: "True", reason: "Accepted" }, {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "huge-routes" },
      spec: {
        hosts: ["huge-routes.hostile.example"],
        gateways: ["hostile-gateway"],
        http: Array.from({ length: 5000 }, (_, index) => ({
          name: `r${index}`,
          match: [{ uri: { exact: `/r${index}` } }],
          directResponse: { status: 200, body: { string: `r${index}` } },
        })),
      },
    }),
    generated("a Gateway with 2,000 servers", { type: "status", condition: "Accepted", status: "True", reason: "Accepted" }, {
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name: "huge-servers" },
      spec: {
        selector: { istio: "ingressgateway" },
        servers: Array.from({ length: 2000 }, (_, index) => ({ port: { number: 80, name: `http-${index}`, protocol: "HTTP" }, hosts: [`s${index}.huge.hostile.example`] })),
      },
    }),
    generated("a directResponse body of 1 MiB + 1 byte", { type: "invalid", field: "spec.http[0].directResponse.body" }, {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "huge-direct-body" },
      spec: { hosts: ["huge-body.hostile.example"], gateways: ["hostile-gateway"], http: [{ directResponse: { status: 200, body: { string: "x".repeat(MIB + 1) } } }] },
    }),
    generated("a Secret whose tls.crt is 1,000,000 random bytes", { type: "applied" }, {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      data: { "tls.crt": garbage.toString("base64"), "tls.key": randomBytes(64).toString("base64") },
      metadata: { name: "garbage-credential" },
    }),
    generated("a Gateway using the 1 MB garbage certificate", { type: "status", condition: "ResolvedRefs", status: "False", reason: "InvalidCredential" }, {
      apiVersion: "networking.istio.io/v1",
      kind: "Gateway",
      metadata: { name: "secret-garbage-1mb" },
      spec: {
        selector: { istio: "ingressgateway" },
        servers: [{ port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["garbage-1mb.hostile.example"], tls: { mode: "SIMPLE", credentialName: "garbage-credential" } }],
      },
    }),
    generated("a Secret of 1 MiB + 1 byte (over the apiserver's limit)", { type: "rejected", text: "Too long: may not be more than 1048576 bytes" }, {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      data: { "tls.crt": randomBytes(MIB + 1).toString("base64") },
      metadata: { name: "oversized-secret" },
    }),
  ];
}
