/**
 * TLS for the xDS port: grpc-js server credentials whose certificate can be replaced while the
 * server runs. grpc-js calls `setSecureContext` on its HTTP/2 server for every watcher update;
 * established connections (Envoy's long-lived ADS streams) keep the session they negotiated, new
 * handshakes get the new certificate — a renewal drops no stream.
 */
import * as grpc from "@grpc/grpc-js";

export interface XdsCertificate {
  /** The serving certificate followed by its chain, PEM. */
  certificatePem: string;
  privateKeyPem: string;
}

export class RotatingServerCredentials extends grpc.ServerCredentials {
  constructor(certificate: XdsCertificate) {
    // No client certificates: proxies authenticate with a ServiceAccount token (auth.ts).
    super({ requestCert: false, minVersion: "TLSv1.2" }, RotatingServerCredentials.#context(certificate));
  }

  static #context(certificate: XdsCertificate): { cert: Buffer; key: Buffer } {
    return { cert: Buffer.from(certificate.certificatePem), key: Buffer.from(certificate.privateKeyPem) };
  }

  /** New handshakes present `certificate` from now on. */
  setCertificate(certificate: XdsCertificate): void {
    this.updateSecureContextOptions(RotatingServerCredentials.#context(certificate));
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}
