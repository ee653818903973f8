import { Type } from "@sinclair/typebox";
import { BoolValue, Opt, Str, StringEnum, StringList, StringMap, UInt32 } from "./common.js";

/** Port protocols Istio understands on a Gateway server (case-insensitive in Istio). */
export const GATEWAY_PROTOCOLS = ["HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "MONGO", "REDIS", "MYSQL", "TCP", "TLS", "UDP"] as const;

export const SERVER_TLS_MODES = [
  "PASSTHROUGH",
  "SIMPLE",
  "MUTUAL",
  "AUTO_PASSTHROUGH",
  "ISTIO_MUTUAL",
  "OPTIONAL_MUTUAL",
] as const;

export const TLS_PROTOCOL_VERSIONS = ["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"] as const;

export const PortSchema = Type.Object(
  {
    number: UInt32("A valid non-negative integer port number."),
    protocol: Str("The protocol exposed on the port: HTTP|HTTPS|GRPC|GRPC-WEB|HTTP2|MONGO|TCP|TLS."),
    name: Str("Label assigned to the port."),
    targetPort: Opt(UInt32("Deprecated; not allowed on a Gateway.")),
  },
  { description: "Port describes the properties of a specific port of a service." },
);

export const TLSCertificateSchema = Type.Object({
  serverCertificate: Opt(Str()),
  privateKey: Opt(Str()),
  caCertificates: Opt(Str()),
});

export const ServerTLSSettingsSchema = Type.Object(
  {
    httpsRedirect: Opt(Type.Boolean({ description: "If set, all HTTP requests get a 301 redirect to HTTPS." })),
    mode: Opt(StringEnum(SERVER_TLS_MODES, "How TLS is enforced on this server.")),
    serverCertificate: Opt(Str("Path of the server certificate file (mode SIMPLE or MUTUAL).")),
    privateKey: Opt(Str("Path of the server private key file (mode SIMPLE or MUTUAL).")),
    caCertificates: Opt(Str("Path of the CA bundle used to verify client certificates (mode MUTUAL).")),
    caCrl: Opt(Str("Path of the certificate revocation list.")),
    credentialName: Opt(Str("Name of the Secret holding the certificate, key and CA.")),
    credentialNames: Opt(Type.Array(Type.String(), { minItems: 1, maxItems: 2, description: "Up to two Secrets (e.g. RSA and ECDSA)." })),
    tlsCertificates: Opt(Type.Array(TLSCertificateSchema, { minItems: 1, maxItems: 2 })),
    caCertCredentialName: Opt(Str("Name of the Secret holding the CA certificate to verify clients, separately from credentialName.")),
    insecureSkipVerify: Opt(BoolValue("Skip verifying the client's certificate (MUTUAL and OPTIONAL_MUTUAL).")),
    subjectAltNames: Opt(StringList("Client identities accepted (SAN).")),
    verifyCertificateSpki: Opt(StringList()),
    verifyCertificateHash: Opt(StringList()),
    minProtocolVersion: Opt(StringEnum(TLS_PROTOCOL_VERSIONS, "Minimum TLS protocol version.")),
    maxProtocolVersion: Opt(StringEnum(TLS_PROTOCOL_VERSIONS, "Maximum TLS protocol version.")),
    cipherSuites: Opt(StringList("Allowed cipher suites; Envoy's defaults when empty.")),
  },
  { description: "TLS settings of a Gateway server." },
);

export const ServerSchema = Type.Object(
  {
    port: PortSchema,
    bind: Opt(Str("IP or Unix domain socket the listener binds to.")),
    hosts: StringList("Hosts exposed by this gateway, optionally prefixed by a namespace: ns/host."),
    tls: Opt(ServerTLSSettingsSchema),
    defaultEndpoint: Opt(Str("Loopback IP or Unix socket to forward traffic to (sidecar ingress).")),
    name: Opt(Str("Optional name of the server; unique across servers.")),
  },
  { description: "A server: a port, its protocol, its hosts and its TLS settings." },
);

export const GatewaySpecSchema = Type.Object(
  {
    servers: Opt(Type.Array(ServerSchema, { description: "Servers of this gateway." })),
    selector: Opt(StringMap("Labels of the pods on which this gateway configuration is applied.")),
  },
  { description: "Configuration affecting edge load balancer. See Istio's Gateway reference." },
);
