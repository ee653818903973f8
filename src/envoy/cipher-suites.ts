/**
 * TLS 1.2-and-below cipher suites that Envoy's TLS library (BoringSSL) accepts by their OpenSSL
 * names; TLS 1.3 suites are not configurable in Envoy. Envoy refuses a listener naming any other
 * suite, so both validation (a warning) and the compiler (the suite is dropped) check this list.
 */
export const envoyCipherSuites: ReadonlySet<string> = new Set([
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-PSK-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES128-SHA",
  "ECDHE-RSA-AES128-SHA",
  "ECDHE-PSK-AES128-CBC-SHA",
  "ECDHE-ECDSA-AES256-SHA",
  "ECDHE-RSA-AES256-SHA",
  "ECDHE-PSK-AES256-CBC-SHA",
  "AES128-GCM-SHA256",
  "AES256-GCM-SHA384",
  "AES128-SHA",
  "AES256-SHA",
  "PSK-AES128-CBC-SHA",
  "PSK-AES256-CBC-SHA",
]);
