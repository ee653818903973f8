import { Type } from "@sinclair/typebox";
import type { TUnsafe } from "@sinclair/typebox";
import {
  BoolValue,
  Duration,
  Int32,
  MapOf,
  OneOfFields,
  Opt,
  Str,
  StringEnum,
  StringList,
  StringMap,
  UInt32,
  UInt32Value,
} from "./common.js";

/**
 * StringMatch is a protobuf oneof. TypeScript sees a discriminated union so the compiler can
 * narrow on `"exact" in m`; the empty object means "present" when used as a header match.
 */
export type StringMatch =
  | { exact: string; prefix?: never; regex?: never }
  | { prefix: string; exact?: never; regex?: never }
  | { regex: string; exact?: never; prefix?: never }
  | { exact?: never; prefix?: never; regex?: never };

export const StringMatchSchema: TUnsafe<StringMatch> = Type.Unsafe<StringMatch>(
  OneOfFields(
    Type.Object(
      {
        exact: Opt(Str("exact string match")),
        prefix: Opt(Str("prefix-based match")),
        regex: Opt(Str("RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax).")),
      },
      { description: "Describes how to match a given string in HTTP headers: exact, prefix or regex." },
    ),
    ["exact", "prefix", "regex"],
  ),
);

export const PercentSchema = Type.Object(
  { value: Opt(Type.Number({ description: "Percentage between 0.0 and 100.0." })) },
  { description: "Percent specifies a percentage in the range of [0.0, 100.0]." },
);

export const PortSelectorSchema = Type.Object(
  { number: Opt(UInt32("Valid port number.")) },
  { description: "Specifies the number of a port to be used for matching or selection." },
);

export const DestinationSchema = Type.Object(
  {
    host: Str("The name of a service from the service registry; short names resolve in the rule's namespace."),
    subset: Opt(Str("The name of a subset within the service (defined in a DestinationRule).")),
    port: Opt(PortSelectorSchema),
  },
  { description: "The service (and subset and port) that a request or connection is forwarded to." },
);

export const HeaderOperationsSchema = Type.Object({
  set: Opt(StringMap("Overwrite the headers specified by key with the given values.")),
  add: Opt(StringMap("Append the given values to the headers specified by keys.")),
  remove: Opt(StringList("Remove the specified headers.")),
});

export const HeadersSchema = Type.Object(
  {
    request: Opt(HeaderOperationsSchema),
    response: Opt(HeaderOperationsSchema),
  },
  { description: "Message headers can be manipulated when Envoy forwards requests to, or responses from, a destination." },
);

export const HTTPMatchRequestSchema = Type.Object(
  {
    name: Opt(Str("The name assigned to a match; concatenated with the route's name.")),
    uri: Opt(StringMatchSchema),
    scheme: Opt(StringMatchSchema),
    method: Opt(StringMatchSchema),
    authority: Opt(StringMatchSchema),
    headers: Opt(MapOf(StringMatchSchema, "Header keys must be lowercase and use hyphen as the separator.")),
    port: Opt(UInt32("Specifies the ports on the host that is being addressed.")),
    sourceLabels: Opt(StringMap("One or more labels that constrain the applicability of a rule to source workloads.")),
    gateways: Opt(StringList("Names of gateways where the rule should be applied.")),
    queryParams: Opt(MapOf(StringMatchSchema, "Query parameters for matching.")),
    ignoreUriCase: Opt(Type.Boolean({ description: "Flag to specify whether the URI matching should be case-insensitive." })),
    withoutHeaders: Opt(MapOf(StringMatchSchema, "withoutHeader has the same syntax with the header, but has opposite meaning.")),
    sourceNamespace: Opt(Str("Source namespace constraining the applicability of a rule to workloads in that namespace.")),
    statPrefix: Opt(Str("The human readable prefix to use when emitting statistics for this route.")),
  },
  { description: "HttpMatchRequest specifies a set of criteria to be met in order for the rule to be applied to the HTTP request." },
);

export const HTTPRouteDestinationSchema = Type.Object(
  {
    destination: DestinationSchema,
    weight: Opt(Int32("Relative proportion of traffic to be forwarded to the destination.")),
    headers: Opt(HeadersSchema),
  },
  { description: "Each routing rule is associated with one or more service versions." },
);

export const RouteDestinationSchema = Type.Object(
  {
    destination: DestinationSchema,
    weight: Opt(Int32("Relative proportion of traffic to be forwarded to the destination.")),
  },
  { description: "L4 routing rule weighted destination." },
);

export const REDIRECT_PORT_DERIVATIONS = ["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] as const;

export const HTTPRedirectSchema = OneOfFields(
  Type.Object(
    {
      uri: Opt(Str("On a redirect, overwrite the Path portion of the URL with this value.")),
      authority: Opt(Str("On a redirect, overwrite the Authority/Host portion of the URL with this value.")),
      port: Opt(UInt32("On a redirect, overwrite the port portion of the URL with this value.")),
      derivePort: Opt(StringEnum(REDIRECT_PORT_DERIVATIONS, "On a redirect, dynamically set the port.")),
      scheme: Opt(Str("On a redirect, overwrite the scheme portion of the URL with this value.")),
      prefixRewrite: Opt(Str("On a redirect, replace the matched prefix (of a prefix match) of the path with this value.")),
      redirectCode: Opt(UInt32("On a redirect, specifies the HTTP status code to use in the redirect response.")),
    },
    { description: "HTTPRedirect can be used to send a 301 redirect response to the caller." },
  ),
  ["port", "derivePort"],
);

export const RegexRewriteSchema = Type.Object({
  match: Opt(Str("RE2 style regex-based match.")),
  rewrite: Opt(Str("The string that should replace into matching portions of original URI.")),
});

export const HTTPRewriteSchema = Type.Object(
  {
    uri: Opt(Str("Rewrite the path (or the prefix) portion of the URI with this value.")),
    authority: Opt(Str("Rewrite the Authority/Host header with this value.")),
    uriRegexRewrite: Opt(RegexRewriteSchema),
  },
  { description: "HTTPRewrite can be used to rewrite specific parts of a HTTP request before forwarding." },
);

export const HTTPBodySchema = OneOfFields(
  Type.Object({
    string: Opt(Str("response body as a string")),
    bytes: Opt(Type.String({ format: "binary", description: "response body as base64 encoded bytes." })),
  }),
  ["string", "bytes"],
);

export const HTTPDirectResponseSchema = Type.Object(
  {
    status: UInt32("Specifies the HTTP response status to be returned."),
    body: Opt(HTTPBodySchema),
  },
  { description: "HTTPDirectResponse can be used to send a fixed response to clients." },
);

export const DelegateSchema = Type.Object({
  name: Opt(Str("Name specifies the name of the delegate VirtualService.")),
  namespace: Opt(Str("Namespace specifies the namespace where the delegate VirtualService resides.")),
});

export const HTTPRetrySchema = Type.Object(
  {
    attempts: Opt(Int32("Number of retries to be allowed for a given request.")),
    perTryTimeout: Opt(Duration("Timeout per attempt for a given request, including the initial call and any retries.")),
    retryOn: Opt(Str("Specifies the conditions under which retry takes place, comma-separated.")),
    retryRemoteLocalities: Opt(BoolValue("Flag to specify whether the retries should retry to other localities.")),
    backoff: Opt(Duration("Base interval between retries.")),
    retryIgnorePreviousHosts: Opt(BoolValue("Whether to avoid retrying against hosts already tried (default true).")),
  },
  { description: "Describes the retry policy to use when a HTTP request fails." },
);

export const DelaySchema = OneOfFields(
  Type.Object({
    fixedDelay: Opt(Duration("Add a fixed delay before forwarding the request.")),
    exponentialDelay: Opt(Duration("Not implemented by Istio.")),
    percent: Opt(Int32("Deprecated: use percentage.")),
    percentage: Opt(PercentSchema),
  }),
  ["fixedDelay", "exponentialDelay"],
);

export const AbortSchema = OneOfFields(
  Type.Object({
    httpStatus: Opt(Int32("HTTP status code to use to abort the Http request.")),
    grpcStatus: Opt(Str("GRPC status code to use to abort the request.")),
    http2Error: Opt(Str("Not implemented by Istio.")),
    percentage: Opt(PercentSchema),
  }),
  ["httpStatus", "grpcStatus", "http2Error"],
);

export const HTTPFaultInjectionSchema = Type.Object(
  {
    delay: Opt(DelaySchema),
    abort: Opt(AbortSchema),
  },
  { description: "Fault injection policy to apply on HTTP traffic at the client side." },
);

export const HTTPMirrorPolicySchema = Type.Object({
  destination: DestinationSchema,
  percentage: Opt(PercentSchema),
});

export const UNMATCHED_PREFLIGHTS = ["UNSPECIFIED", "FORWARD", "IGNORE"] as const;

export const CorsPolicySchema = Type.Object(
  {
    allowOrigin: Opt(StringList("Deprecated: use allowOrigins.")),
    allowOrigins: Opt(Type.Array(StringMatchSchema, { description: "String patterns that match allowed origins." })),
    allowMethods: Opt(StringList("List of HTTP methods allowed to access the resource.")),
    allowHeaders: Opt(StringList("List of HTTP headers that can be used when requesting the resource.")),
    exposeHeaders: Opt(StringList("A list of HTTP headers that the browsers are allowed to access.")),
    maxAge: Opt(Duration("Specifies how long the results of a preflight request can be cached.")),
    allowCredentials: Opt(BoolValue("Whether the caller may send the actual request using credentials.")),
    unmatchedPreflights: Opt(StringEnum(UNMATCHED_PREFLIGHTS, "Whether preflight requests not matching the policy are forwarded.")),
  },
  { description: "Describes the Cross-Origin Resource Sharing (CORS) policy." },
);

export const HTTPRouteSchema = Type.Object(
  {
    name: Opt(Str("The name assigned to the route for debugging purposes.")),
    match: Opt(Type.Array(HTTPMatchRequestSchema, { description: "Match conditions to be satisfied for the rule to be activated." })),
    route: Opt(Type.Array(HTTPRouteDestinationSchema, { description: "A HTTP rule can either return a direct_response, redirect or forward (default) traffic." })),
    redirect: Opt(HTTPRedirectSchema),
    directResponse: Opt(HTTPDirectResponseSchema),
    delegate: Opt(DelegateSchema),
    rewrite: Opt(HTTPRewriteSchema),
    timeout: Opt(Duration("Timeout for HTTP requests, default is disabled.")),
    retries: Opt(HTTPRetrySchema),
    fault: Opt(HTTPFaultInjectionSchema),
    mirror: Opt(DestinationSchema),
    mirrors: Opt(Type.Array(HTTPMirrorPolicySchema, { description: "Destinations to mirror HTTP traffic in addition to the original destination." })),
    mirrorPercent: Opt(UInt32Value("Deprecated: use mirrorPercentage.")),
    mirror_percent: Opt(UInt32Value("Deprecated: the snake_case spelling Istio's CRD also accepts; use mirrorPercentage.")),
    mirrorPercentage: Opt(PercentSchema),
    corsPolicy: Opt(CorsPolicySchema),
    headers: Opt(HeadersSchema),
  },
  { description: "Describes match conditions and actions for routing HTTP/1.1, HTTP2, and gRPC traffic." },
);

export const L4MatchAttributesSchema = Type.Object(
  {
    destinationSubnets: Opt(StringList("IPv4 or IPv6 ip addresses of destination with optional subnet.")),
    port: Opt(UInt32("Specifies the port on the host that is being addressed.")),
    sourceSubnet: Opt(Str()),
    sourceLabels: Opt(StringMap("One or more labels that constrain the applicability of a rule to workloads with the given labels.")),
    gateways: Opt(StringList("Names of gateways where the rule should be applied.")),
    sourceNamespace: Opt(Str("Source namespace constraining the applicability of a rule to workloads in that namespace.")),
  },
  { description: "L4 connection match attributes." },
);

export const TLSMatchAttributesSchema = Type.Object(
  {
    sniHosts: StringList("SNI (server name indicator) to match on."),
    destinationSubnets: Opt(StringList("IPv4 or IPv6 ip addresses of destination with optional subnet.")),
    port: Opt(UInt32("Specifies the port on the host that is being addressed.")),
    sourceLabels: Opt(StringMap("One or more labels that constrain the applicability of a rule to workloads with the given labels.")),
    gateways: Opt(StringList("Names of gateways where the rule should be applied.")),
    sourceNamespace: Opt(Str("Source namespace constraining the applicability of a rule to workloads in that namespace.")),
  },
  { description: "TLS connection match attributes." },
);

export const TCPRouteSchema = Type.Object(
  {
    match: Opt(Type.Array(L4MatchAttributesSchema, { description: "Match conditions to be satisfied for the rule to be activated." })),
    route: Opt(Type.Array(RouteDestinationSchema, { description: "The destination to which the connection should be forwarded to." })),
  },
  { description: "Describes match conditions and actions for routing TCP traffic." },
);

export const TLSRouteSchema = Type.Object(
  {
    match: Type.Array(TLSMatchAttributesSchema, { description: "Match conditions to be satisfied for the rule to be activated." }),
    route: Opt(Type.Array(RouteDestinationSchema, { description: "The destination to which the connection should be forwarded to." })),
  },
  { description: "Describes match conditions and actions for routing unterminated TLS traffic (TLS/HTTPS)." },
);

export const VirtualServiceSpecSchema = Type.Object(
  {
    hosts: Opt(StringList("The destination hosts to which traffic is being sent.")),
    gateways: Opt(StringList("The names of gateways and sidecars that should apply these routes.")),
    http: Opt(Type.Array(HTTPRouteSchema, { description: "An ordered list of route rules for HTTP traffic." })),
    tls: Opt(Type.Array(TLSRouteSchema, { description: "An ordered list of route rule for non-terminated TLS & HTTPS traffic." })),
    tcp: Opt(Type.Array(TCPRouteSchema, { description: "An ordered list of route rules for opaque TCP traffic." })),
    exportTo: Opt(StringList("A list of namespaces to which this virtual service is exported.")),
  },
  { description: "Configuration affecting label/content routing, sni routing, etc. See Istio's VirtualService reference." },
);
