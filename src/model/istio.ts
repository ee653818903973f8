/**
 * The Istio networking types the compiler reads: src/api is the source of truth; the model and
 * compiler import them through here so the dependency is in one place.
 */
export type {
  ConsistentHashLB,
  CorsPolicy,
  Destination,
  DestinationRule,
  Gateway,
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRetry,
  HTTPRoute,
  HeaderOperations,
  Port,
  Server,
  ServerTLSSettings,
  StringMatch,
  Subset,
  TCPRoute,
  TLSRoute,
  TrafficPolicy,
  VirtualService,
} from "../api/index.js";
export { parseDuration } from "../api/index.js";
