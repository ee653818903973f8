/**
 * The cipher suites pilotfish accepts (src/envoy/cipher-suites.ts) are the ones Envoy itself
 * accepts: every cipher-like name found in the Envoy binary (BoringSSL's tables) plus Node's
 * OpenSSL names and the current list is put, alone, in a listener's DownstreamTlsContext and run
 * through `envoy --mode validate`. The accepted set must equal the list.
 * `UPDATE_CIPHERS=1` rewrites src/envoy/cipher-suites.ts from what Envoy accepted.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, realpathSync, writeFileSync } from "node:fs";
import { getCiphers } from "node:tls";
import { fileURLToPath } from "node:url";
import { createCertificateChainSet } from "../../../src/pki/index.js";
import { envoyCipherSuites } from "../../../src/envoy/cipher-suites.js";
import { validateEnvoyConfig } from "../../support/envoy.js";
import { benchTool } from "../../support/paths.js";

const cipherListFile = fileURLToPath(new URL("../../../src/envoy/cipher-suites.ts", import.meta.url));

function candidates(): string[] {
  const binary = readFileSync(realpathSync(benchTool("envoy"))).toString("latin1");
  const names = new Set<string>(envoyCipherSuites);
  for (const match of binary.matchAll(/(?<![A-Za-z0-9-])(?:ECDHE|DHE|PSK|AES\d*|DES|RC4|CHACHA20|ECDH|RSA|NULL)[A-Z0-9]*(?:-[A-Z0-9]+)+(?![A-Za-z0-9-])/g)) names.add(match[0]);
  for (const name of getCiphers()) names.add(name.toUpperCase());
  return [...names].sort();
}

test("the cipher suite list is exactly what Envoy accepts in a listener", { timeout: 600_000 }, async () => {
  const pki = await createCertificateChainSet({ name: "ciphers", serverHosts: ["ciphers.example.test"] });
  const bootstrap = (suite: string) => ({
    static_resources: {
      listeners: [
        {
          name: "ciphers",
          address: { socket_address: { address: "127.0.0.1", port_value: 10443 } },
          filter_chains: [
            {
              transport_socket: {
                name: "envoy.transport_sockets.tls",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                  common_tls_context: {
                    tls_params: { cipher_suites: [suite], tls_maximum_protocol_version: "TLSv1_2" },
                    tls_certificates: [{ certificate_chain: { inline_string: pki.server.fullChainPem }, private_key: { inline_string: pki.server.privateKeyPem } }],
                  },
                },
              },
              filters: [
                {
                  name: "envoy.filters.network.tcp_proxy",
                  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "c", cluster: "none" },
                },
              ],
            },
          ],
        },
      ],
      clusters: [{ name: "none", type: "STATIC", load_assignment: { cluster_name: "none", endpoints: [] } }],
    },
  });
  // A control: a name Envoy must refuse, so "accepted" means something.
  assert.equal((await validateEnvoyConfig(bootstrap("NOT-A-CIPHER"))).ok, false);
  const accepted: string[] = [];
  const names = candidates();
  for (let i = 0; i < names.length; i += 2) {
    const batch = names.slice(i, i + 2);
    const results = await Promise.all(batch.map(async (name) => ({ name, ok: (await validateEnvoyConfig(bootstrap(name))).ok })));
    for (const result of results) if (result.ok) accepted.push(result.name);
  }
  accepted.sort();
  if (process.env.UPDATE_CIPHERS === "1") {
    const text = readFileSync(cipherListFile, "utf8");
    const list = accepted.map((name) => `  "${name}",`).join("\n");
    writeFileSync(cipherListFile, text.replace(/new Set\(\[\n[\s\S]*?\n\]\)/, `new Set([\n${list}\n])`));
  }
  assert.ok(accepted.includes("DES-CBC3-SHA"), "Envoy 1.40 accepts DES-CBC3-SHA");
  assert.deepEqual([...envoyCipherSuites].sort(), accepted, `src/envoy/cipher-suites.ts differs from what Envoy accepts (UPDATE_CIPHERS=1 rewrites it) — tried ${names.length} names`);
});
