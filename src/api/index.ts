// Public surface of Istio's networking API in pilotfish: types, schemas and helpers.
export * from "./types.js";
export { parseDuration } from "./duration.js";
export type { DurationResult } from "./duration.js";
export {
  API_VERSIONS,
  GROUP,
  KINDS,
  STORAGE_VERSION,
  VERSIONS,
  GatewaySchema,
  VirtualServiceSchema,
  DestinationRuleSchema,
} from "./schema/resources.js";
export { GATEWAY_PROTOCOLS, SERVER_TLS_MODES, TLS_PROTOCOL_VERSIONS } from "./schema/gateway.js";
export { CLIENT_TLS_MODES, SIMPLE_LB_ALGORITHMS } from "./schema/destination-rule.js";
export { compileRe2, re2FullMatch, regexProblem, ENVOY_MAX_PROGRAM_SIZE } from "./validation/regex.js";
export type { CompiledRegex } from "./validation/regex.js";
