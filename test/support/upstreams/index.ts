export { startHttpbin } from "./httpbin.js";
export type { Httpbin, HttpbinOptions, RecordedRequest } from "./httpbin.js";
export { startTcpEcho } from "./tcp-echo.js";
export type { TcpEcho, TcpEchoOptions } from "./tcp-echo.js";
export { startTlsServer } from "./tls-server.js";
export type { TlsServer, TlsServerOptions } from "./tls-server.js";
