/**
 * TLS 1.2-and-below cipher suites that Envoy 1.40 (BoringSSL) accepts by their OpenSSL names, as
 * Envoy itself reports them: test/integration/compile/cipher-suites.test.ts puts every cipher-like
 * name found in the Envoy binary into a listener and keeps those `envoy --mode validate` accepts
 * (`UPDATE_CIPHERS=1` rewrites this list). TLS 1.3 suites are not configurable in Envoy. Envoy
 * refuses a listener naming any other suite, so both validation (a warning) and the compiler (the
 * suite is dropped) check this list. Weak suites (DES-CBC3-SHA, the CBC ones) are accepted like
 * Envoy and istiod accept them; validation warns about them.
 */
export const envoyCipherSuites: ReadonlySet<string> = new Set([
  "AES128-GCM-SHA256",
  "AES128-SHA",
  "AES256-GCM-SHA384",
  "AES256-SHA",
  "DES-CBC3-SHA",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES128-SHA",
  "ECDHE-ECDSA-AES128-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-AES256-SHA",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-PSK-AES128-CBC-SHA",
  "ECDHE-PSK-AES256-CBC-SHA",
  "ECDHE-PSK-CHACHA20-POLY1305",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-SHA",
  "ECDHE-RSA-AES128-SHA256",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-SHA",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "PSK-AES128-CBC-SHA",
  "PSK-AES256-CBC-SHA",
]);
