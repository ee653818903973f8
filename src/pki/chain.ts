import { createCa, issueCertificate } from "./certificates.js";
import type { CertificateAuthority, IssuedCertificate, KeyAlgorithm } from "./certificates.js";

/**
 * The shape of the book's certificate folders (1_root, 2_intermediate, 3_application, 4_client)
 * made in one call: a root, an intermediate under it, a server certificate for `serverHosts`
 * and a client certificate, all signed by the intermediate.
 */
export interface CertificateChainSet {
  root: CertificateAuthority;
  intermediate: CertificateAuthority;
  server: IssuedCertificate;
  client: IssuedCertificate;
}

export interface ChainSetOptions {
  /** Used in the CA names, e.g. `webapp` → "webapp root CA". */
  name: string;
  /** DNS names of the server certificate; the first is also its common name. */
  serverHosts: readonly string[];
  /** Common name of the client certificate (defaults to `<name>-client`). */
  clientName?: string;
  now?: Date;
  keyAlgorithm?: KeyAlgorithm;
}

export async function createCertificateChainSet(options: ChainSetOptions): Promise<CertificateChainSet> {
  const [firstHost] = options.serverHosts;
  if (firstHost === undefined) throw new Error("createCertificateChainSet needs at least one server host");
  const common = { now: options.now, keyAlgorithm: options.keyAlgorithm, organization: "pilotfish test" };
  const root = await createCa({ ...common, commonName: `${options.name} root CA` });
  const intermediate = await createCa({ ...common, commonName: `${options.name} intermediate CA`, issuer: root });
  const server = await issueCertificate(intermediate, {
    ...common,
    commonName: firstHost,
    dnsNames: options.serverHosts,
    usage: "server",
  });
  const client = await issueCertificate(intermediate, {
    ...common,
    commonName: options.clientName ?? `${options.name}-client`,
    usage: "client",
  });
  return { root, intermediate, server, client };
}
