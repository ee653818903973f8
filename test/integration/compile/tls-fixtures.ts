/**
 * Inputs for the TLS and TCP real-traffic tests, in two flavours that run the same tests:
 * - "labs": the book's manifests and certificates, read from ../shared/labs at run time;
 * - "generated": the project's own manifests (equivalent to the labs') and certificates made by
 *   src/pki at test time, so a clone without the labs still proves the same paths.
 */
import { readFileSync } from "node:fs";
import { dump } from "js-yaml";
import { createCertificateChainSet } from "../../../src/pki/index.js";
import { labPath } from "../../support/labs.js";

export interface ServerMaterial {
  /** What the server presents (leaf, possibly followed by intermediates). */
  certPem: string;
  keyPem: string;
  /** What a client trusts (the labs' ca-chain.cert.pem). */
  caChainPem: string;
}

export interface ClientMaterial {
  certPem: string;
  keyPem: string;
}

export type ManifestName =
  | "gw-tls"
  | "gw-tls-redirect"
  | "gw-mtls"
  | "gw-multi-tls"
  | "coolstore-vs"
  | "catalog-vs"
  | "sni-gateway-both"
  | "sni-vs-1"
  | "sni-vs-2"
  | "gateway-tcp"
  | "echo-vs";

export interface TlsMaterial {
  flavour: "labs" | "generated";
  webapp: ServerMaterial;
  webappClient: ClientMaterial;
  catalog: ServerMaterial;
  sni1: ServerMaterial;
  sni2: ServerMaterial;
  manifest(name: ManifestName): string;
}

const labManifestPaths: Record<ManifestName, string> = {
  "gw-tls": "ch4/coolstore-gw-tls.yaml",
  "gw-tls-redirect": "ch4/coolstore-gw-tls-redirect.yaml",
  "gw-mtls": "ch4/coolstore-gw-mtls.yaml",
  "gw-multi-tls": "ch4/coolstore-gw-multi-tls.yaml",
  "coolstore-vs": "ch4/coolstore-vs.yaml",
  "catalog-vs": "ch4/catalog-vs.yaml",
  "sni-gateway-both": "ch4/sni/passthrough-sni-gateway-both.yaml",
  "sni-vs-1": "ch4/sni/passthrough-sni-vs-1.yaml",
  "sni-vs-2": "ch4/sni/passthrough-sni-vs-2.yaml",
  "gateway-tcp": "ch4/gateway-tcp.yaml",
  "echo-vs": "ch4/echo-vs.yaml",
};

function gateway(name: string, servers: object[]): string {
  return dump({ apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name }, spec: { selector: { istio: "ingressgateway" }, servers } });
}

function virtualService(name: string, spec: object): string {
  return dump({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name }, spec });
}

const httpServer = { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["webapp.istioinaction.io"] };
const httpsServer = (mode: string, credentialName: string, host: string, portName = "https") => ({
  port: { number: 443, name: portName, protocol: "HTTPS" },
  tls: { mode, credentialName },
  hosts: [host],
});
const sniServer = (n: number) => ({ port: { number: 31400, name: `tcp-sni-${n}`, protocol: "TLS" }, hosts: [`simple-sni-${n}.istioinaction.io`], tls: { mode: "PASSTHROUGH" } });
const sniVs = (n: number) =>
  virtualService(`simple-sni-${n}-vs`, {
    hosts: [`simple-sni-${n}.istioinaction.io`],
    gateways: ["sni-passthrough-gateway"],
    tls: [{ match: [{ port: 31400, sniHosts: [`simple-sni-${n}.istioinaction.io`] }], route: [{ destination: { host: `simple-tls-service-${n}`, port: { number: 80 } } }] }],
  });

/** The project's own manifests, written to be equivalent to the labs' (same names and hosts). */
export const ownManifests: Record<ManifestName, string> = {
  "gw-tls": gateway("coolstore-gateway", [httpServer, httpsServer("SIMPLE", "webapp-credential", "webapp.istioinaction.io")]),
  "gw-tls-redirect": gateway("coolstore-gateway", [{ ...httpServer, tls: { httpsRedirect: true } }, httpsServer("SIMPLE", "webapp-credential", "webapp.istioinaction.io")]),
  "gw-mtls": gateway("coolstore-gateway", [httpServer, httpsServer("MUTUAL", "webapp-credential-mtls", "webapp.istioinaction.io")]),
  "gw-multi-tls": gateway("coolstore-gateway", [
    httpsServer("SIMPLE", "webapp-credential", "webapp.istioinaction.io", "https-webapp"),
    httpsServer("SIMPLE", "catalog-credential", "catalog.istioinaction.io", "https-catalog"),
  ]),
  "coolstore-vs": virtualService("webapp-vs-from-gw", {
    hosts: ["webapp.istioinaction.io"],
    gateways: ["coolstore-gateway"],
    http: [{ route: [{ destination: { host: "webapp", port: { number: 80 } } }] }],
  }),
  "catalog-vs": virtualService("catalog-vs-from-gw", {
    hosts: ["catalog.istioinaction.io"],
    gateways: ["coolstore-gateway"],
    http: [{ route: [{ destination: { host: "catalog", port: { number: 80 } } }] }],
  }),
  "sni-gateway-both": gateway("sni-passthrough-gateway", [sniServer(1), sniServer(2)]),
  "sni-vs-1": sniVs(1),
  "sni-vs-2": sniVs(2),
  "gateway-tcp": gateway("echo-tcp-gateway", [{ port: { number: 31400, name: "tcp-echo", protocol: "TCP" }, hosts: ["*"] }]),
  "echo-vs": virtualService("tcp-echo-vs-from-gw", {
    hosts: ["*"],
    gateways: ["echo-tcp-gateway"],
    tcp: [{ match: [{ port: 31400 }], route: [{ destination: { host: "tcp-echo-service", port: { number: 2701 } } }] }],
  }),
};

/** A Secret as `kubectl create secret` would make it (stringData instead of base64). */
export function secretManifest(namespace: string, name: string, stringData: Record<string, string>, type = "Opaque"): string {
  return dump({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, type, stringData }, { lineWidth: -1 });
}

function read(...parts: string[]): string {
  return readFileSync(labPath(...parts), "utf8");
}

function labServer(dir: string, host: string): ServerMaterial {
  return {
    certPem: read(dir, "3_application/certs", `${host}.cert.pem`),
    keyPem: read(dir, "3_application/private", `${host}.key.pem`),
    caChainPem: read(dir, "2_intermediate/certs/ca-chain.cert.pem"),
  };
}

export function labMaterial(): TlsMaterial {
  return {
    flavour: "labs",
    webapp: labServer("ch4/certs", "webapp.istioinaction.io"),
    webappClient: {
      certPem: read("ch4/certs/4_client/certs/webapp.istioinaction.io.cert.pem"),
      keyPem: read("ch4/certs/4_client/private/webapp.istioinaction.io.key.pem"),
    },
    catalog: labServer("ch4/certs2", "catalog.istioinaction.io"),
    sni1: labServer("ch4/sni/simple-sni-1", "simple-sni-1.istioinaction.io"),
    sni2: labServer("ch4/sni/simple-sni-2", "simple-sni-2.istioinaction.io"),
    manifest: (name) => read(labManifestPaths[name]),
  };
}

export async function generatedMaterial(): Promise<TlsMaterial> {
  const server = async (name: string, host: string) => {
    const set = await createCertificateChainSet({ name, serverHosts: [host] });
    return { set, material: { certPem: set.server.fullChainPem, keyPem: set.server.privateKeyPem, caChainPem: set.server.caChainPem } };
  };
  const webapp = await server("webapp", "webapp.istioinaction.io");
  const catalog = await server("catalog", "catalog.istioinaction.io");
  const sni1 = await server("sni-1", "simple-sni-1.istioinaction.io");
  const sni2 = await server("sni-2", "simple-sni-2.istioinaction.io");
  return {
    flavour: "generated",
    webapp: webapp.material,
    webappClient: { certPem: webapp.set.client.fullChainPem, keyPem: webapp.set.client.privateKeyPem },
    catalog: catalog.material,
    sni1: sni1.material,
    sni2: sni2.material,
    manifest: (name) => ownManifests[name],
  };
}
