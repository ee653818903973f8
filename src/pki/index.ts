export { createCa, issueCertificate, splitPemCertificates } from "./certificates.js";
export type {
  CaOptions,
  CertificateAuthority,
  CertificateUsage,
  IssuedCertificate,
  KeyAlgorithm,
  LeafOptions,
} from "./certificates.js";
export { createCertificateChainSet } from "./chain.js";
export type { CertificateChainSet, ChainSetOptions } from "./chain.js";
