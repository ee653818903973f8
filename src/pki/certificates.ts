// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/**
 * Certificates for tests, the demo and (later) the webhook's serving certificate: a root CA, an
 * intermediate CA, and leaf certificates for servers and clients, all as PEM text.
 *
 * The functions are pure apart from the randomness of key generation: the clock comes in as
 * `now`, so a caller that needs reproducible validity windows can pin it. Keys are ECDSA P-256
 * by default (fast to generate, accepted by Envoy and curl); RSA 2048 is there for tests that
 * need RSA cipher suites.
 */

// Node's WebCrypto; the project compiles without the DOM lib, so its types come from node:crypto.
const crypto: webcrypto.Crypto = webcrypto;
x509.cryptoProvider.set(crypto);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

export type KeyAlgorithm = "ecdsa-p256" | "rsa-2048";

export interface CertificateAuthority {
  commonName: string;
  keyAlgorithm: KeyAlgorithm;
  /** This CA's certificate. */
  certificatePem: string;
  /** PKCS#8 private key of this CA. */
  privateKeyPem: string;
  /**
   * This CA's certificate followed by every CA above it up to and including the root: what a
   * client passes as `--cacert` (the labs' `ca-chain.cert.pem`).
   */
  chainPem: string;
}

export interface IssuedCertificate {
  certificatePem: string;
  privateKeyPem: string;
  /** The leaf followed by the intermediate CAs (not the root): what a server presents. */
  fullChainPem: string;
  /** The issuing CA's chain up to the root, for the peer's trust store. */
  caChainPem: string;
}

export interface CaOptions {
  commonName: string;
  organization?: string;
  /** Sign with this CA to make an intermediate; omit for a self-signed root. */
  issuer?: CertificateAuthority;
  validityDays?: number;
  now?: Date;
  keyAlgorithm?: KeyAlgorithm;
}

export type CertificateUsage = "server" | "client" | "server-and-client";

export interface LeafOptions {
  commonName: string;
  /** DNS subject alternative names; wildcards such as `*.example.com` allowed. */
  dnsNames?: readonly string[];
  /** IP subject alternative names. */
  ipAddresses?: readonly string[];
  usage: CertificateUsage;
  organization?: string;
  validityDays?: number;
  now?: Date;
  keyAlgorithm?: KeyAlgorithm;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Start validity a little in the past so clocks that lag slightly still accept a fresh cert. */
const BACKDATE_MS = 5 * 60 * 1000;

function algorithmParams(keyAlgorithm: KeyAlgorithm): webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams {
  return keyAlgorithm === "rsa-2048"
    ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 }
    : { name: "ECDSA", namedCurve: "P-256" };
}

function signingAlgorithm(keyAlgorithm: KeyAlgorithm): webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams {
  return keyAlgorithm === "rsa-2048"
    ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
    : { name: "ECDSA", hash: "SHA-256" };
}

function importParams(keyAlgorithm: KeyAlgorithm): webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams {
  return keyAlgorithm === "rsa-2048"
    ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
    : { name: "ECDSA", namedCurve: "P-256" };
}

async function generateKeys(keyAlgorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(algorithmParams(keyAlgorithm), true, ["sign", "verify"]);
}

async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY") + "\n";
}

async function importSigningKey(ca: CertificateAuthority): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(ca.privateKeyPem);
  return crypto.subtle.importKey("pkcs8", der, importParams(ca.keyAlgorithm), false, ["sign"]);
}

function distinguishedName(commonName: string, organization: string | undefined): string {
  // Commas and other RFC 4514 specials would change the DN's meaning; test names never need them.
  if (/[,+"\\<>;=]/.test(commonName) || (organization && /[,+"\\<>;=]/.test(organization))) {
    throw new Error(`certificate names may not contain RFC 4514 special characters: ${commonName}`);
  }
  return organization ? `CN=${commonName}, O=${organization}` : `CN=${commonName}`;
}

function validity(now: Date | undefined, validityDays: number): { notBefore: Date; notAfter: Date } {
  const start = (now ?? new Date()).getTime();
  return { notBefore: new Date(start - BACKDATE_MS), notAfter: new Date(start + validityDays * DAY_MS) };
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // a positive INTEGER without a leading zero byte
  if (bytes[0] === 0) bytes[0] = 1;
  return Buffer.from(bytes).toString("hex");
}

function pemOf(certificate: x509.X509Certificate): string {
  return certificate.toString("pem") + "\n";
}

/** A self-signed root CA, or an intermediate CA when `issuer` is given. */
export async function createCa(options: CaOptions): Promise<CertificateAuthority> {
  const keyAlgorithm = options.keyAlgorithm ?? options.issuer?.keyAlgorithm ?? "ecdsa-p256";
  const keys = await generateKeys(keyAlgorithm);
  const name = distinguishedName(options.commonName, options.organization);
  const { notBefore, notAfter } = validity(options.now, options.validityDays ?? 3650);
  const extensions: x509.Extension[] = [
    // A root may sign intermediates; an intermediate signs only leaves.
    new x509.BasicConstraintsExtension(true, options.issuer ? 0 : 1, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];

  let certificate: x509.X509Certificate;
  if (options.issuer) {
    const issuerCert = new x509.X509Certificate(options.issuer.certificatePem);
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerCert.publicKey));
    certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: name,
      issuer: issuerCert.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: await importSigningKey(options.issuer),
      signingAlgorithm: signingAlgorithm(options.issuer.keyAlgorithm),
      extensions,
    });
  } else {
    certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name,
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: signingAlgorithm(keyAlgorithm),
      extensions,
    });
  }
  const certificatePem = pemOf(certificate);
  return {
    commonName: options.commonName,
    keyAlgorithm,
    certificatePem,
    privateKeyPem: await exportPrivateKeyPem(keys.privateKey),
    chainPem: certificatePem + (options.issuer?.chainPem ?? ""),
  };
}

function extendedUsages(usage: CertificateUsage): string[] {
  switch (usage) {
    case "server":
      return [x509.ExtendedKeyUsage.serverAuth];
    case "client":
      return [x509.ExtendedKeyUsage.clientAuth];
    case "server-and-client":
      return [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  }
}

/** A leaf certificate signed by `ca`, with its subject alternative names. */
export async function issueCertificate(ca: CertificateAuthority, options: LeafOptions): Promise<IssuedCertificate> {
  const keyAlgorithm = options.keyAlgorithm ?? ca.keyAlgorithm;
  const keys = await generateKeys(keyAlgorithm);
  const issuerCert = new x509.X509Certificate(ca.certificatePem);
  const { notBefore, notAfter } = validity(options.now, options.validityDays ?? 825);
  const altNames: x509.JsonGeneralName[] = [
    ...(options.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      keyAlgorithm === "rsa-2048"
        ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
        : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(extendedUsages(options.usage)),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(issuerCert.publicKey),
  ];
  if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames));

  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: distinguishedName(options.commonName, options.organization),
    issuer: issuerCert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: await importSigningKey(ca),
    signingAlgorithm: signingAlgorithm(ca.keyAlgorithm),
    extensions,
  });
  const certificatePem = pemOf(certificate);
  // The root is the last certificate of the CA's chain; a server presents everything but it.
  const intermediates = splitPemCertificates(ca.chainPem).slice(0, -1).join("");
  return {
    certificatePem,
    privateKeyPem: await exportPrivateKeyPem(keys.privateKey),
    fullChainPem: certificatePem + intermediates,
    caChainPem: ca.chainPem,
  };
}

/** Each `-----BEGIN CERTIFICATE-----` block of a PEM bundle, newline-terminated. */
export function splitPemCertificates(bundle: string): string[] {
  const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => block + "\n");
}
