import { Type } from "@sinclair/typebox";
import { BoolValue, Duration, Int32, MapOf, OneOfFields, Opt, Str, StringEnum, StringList, StringMap, UInt32, UInt32Value, UInt64 } from "./common.js";
import { PortSelectorSchema } from "./virtual-service.js";

export const SIMPLE_LB_ALGORITHMS = ["UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"] as const;
export const CLIENT_TLS_MODES = ["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] as const;
export const H2_UPGRADE_POLICIES = ["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] as const;
export const PROXY_PROTOCOL_VERSIONS = ["V1", "V2"] as const;

export const HTTPCookieSchema = Type.Object({
  name: Str("Name of the cookie."),
  path: Opt(Str("Path to set for the cookie.")),
  ttl: Opt(Duration("Lifetime of the cookie.")),
  attributes: Opt(Type.Array(Type.Object({ name: Str(), value: Opt(Str()) }))),
});

export const ConsistentHashLBSchema = OneOfFields(
  Type.Object(
    {
      httpHeaderName: Opt(Str("Hash based on a specific HTTP header.")),
      httpCookie: Opt(HTTPCookieSchema),
      useSourceIp: Opt(Type.Boolean({ description: "Hash based on the source IP address." })),
      httpQueryParameterName: Opt(Str("Hash based on a specific HTTP query parameter.")),
      ringHash: Opt(Type.Object({ minimumRingSize: Opt(UInt64("The minimum number of virtual nodes to use for the hash ring.")) })),
      maglev: Opt(Type.Object({ tableSize: Opt(UInt64("The table size for Maglev hashing.")) })),
      minimumRingSize: Opt(UInt64("Deprecated: use ringHash.")),
    },
    { description: "Consistent Hash-based load balancing can be used to provide soft session affinity." },
  ),
  ["httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"],
  ["ringHash", "maglev"],
);

export const LocalityLoadBalancerSettingSchema = Type.Object({
  distribute: Opt(
    Type.Array(
      Type.Object({
        from: Opt(Str("Originating locality, '/' separated, e.g. 'region/zone/sub_zone'.")),
        to: Opt(MapOf(UInt32(), "Map of upstream localities to traffic distribution weights.")),
      }),
    ),
  ),
  failover: Opt(Type.Array(Type.Object({ from: Opt(Str("Originating region.")), to: Opt(Str("Destination region the traffic will fail over to.")) }))),
  failoverPriority: Opt(StringList("failoverPriority is an ordered list of labels used to sort endpoints.")),
  enabled: Opt(BoolValue("Enable locality load balancing.")),
});

export const WarmupConfigurationSchema = Type.Object({
  duration: Duration("Duration of warmup mode."),
  minimumPercent: Opt(Type.Number({ nullable: true, minimum: 0, maximum: 100, format: "double" })),
  aggression: Opt(Type.Number({ nullable: true, minimum: 0, format: "double" })),
});

export const LoadBalancerSettingsSchema = OneOfFields(
  Type.Object(
    {
      simple: Opt(StringEnum(SIMPLE_LB_ALGORITHMS, "Standard load balancing algorithms that require no tuning.")),
      consistentHash: Opt(ConsistentHashLBSchema),
      localityLbSetting: Opt(LocalityLoadBalancerSettingSchema),
      warmupDurationSecs: Opt(Duration("Deprecated: use warmup. Represents the warmup duration of Service.")),
      warmup: Opt(WarmupConfigurationSchema),
      zoneAwareLbSetting: Opt(
        Type.Object({
          enabled: Opt(BoolValue("Enable zone-aware load balancing.")),
          minClusterSize: Opt(UInt32Value("Minimum number of upstream hosts for zone-aware routing.", 1)),
          failover: Opt(Type.Array(Type.Object({ from: Opt(Str("Originating zone.")), to: Opt(Str("Zone the traffic fails over to.")) }))),
          failoverPriority: Opt(StringList("Ordered list of labels used to sort endpoints for failover.")),
        }),
      ),
    },
    { description: "Load balancing policies to apply for a specific destination." },
  ),
  ["simple", "consistentHash"],
);

export const ConnectionPoolSettingsSchema = Type.Object(
  {
    tcp: Opt(
      Type.Object({
        maxConnections: Opt(Int32("Maximum number of HTTP1 /TCP connections to a destination host.")),
        connectTimeout: Opt(Duration("TCP connection timeout.")),
        tcpKeepalive: Opt(
          Type.Object({
            probes: Opt(UInt32("Maximum number of keepalive probes to send without response before deciding the connection is dead.")),
            time: Opt(Duration("The time duration a connection needs to be idle before keep-alive probes start being sent.")),
            interval: Opt(Duration("The time duration between keep-alive probes.")),
          }),
        ),
        maxConnectionDuration: Opt(Duration("The maximum duration of a connection.")),
        idleTimeout: Opt(Duration("The idle timeout for TCP connections.")),
      }),
    ),
    http: Opt(
      Type.Object({
        http1MaxPendingRequests: Opt(Int32("Maximum number of requests that will be queued while waiting for a ready connection pool connection.")),
        http2MaxRequests: Opt(Int32("Maximum number of active requests to a destination.")),
        maxRequestsPerConnection: Opt(Int32("Maximum number of requests per connection to a backend.")),
        maxRetries: Opt(Int32("Maximum number of retries that can be outstanding to all hosts in a cluster at a given time.")),
        idleTimeout: Opt(Duration("The idle timeout for upstream connection pool connections.")),
        h2UpgradePolicy: Opt(StringEnum(H2_UPGRADE_POLICIES, "Specify if http1.1 connection should be upgraded to http2 for the associated destination.")),
        useClientProtocol: Opt(Type.Boolean({ description: "If set to true, client protocol will be preserved while initiating connection to backend." })),
        maxConcurrentStreams: Opt(Int32("The maximum number of concurrent streams allowed for a peer on one HTTP/2 connection.")),
        http2KeepAlive: Opt(
          Type.Object({
            interval: Opt(Duration("Interval between HTTP/2 PING frames.")),
            timeout: Opt(Duration("How long to wait for a PING response before closing the connection.")),
          }),
        ),
      }),
    ),
  },
  { description: "Connection pool settings for an upstream host." },
);

export const OutlierDetectionSchema = Type.Object(
  {
    splitExternalLocalOriginErrors: Opt(Type.Boolean({ description: "Determines whether to distinguish local origin failures from external errors." })),
    consecutiveLocalOriginFailures: Opt(UInt32Value("The number of consecutive locally originated failures before ejection occurs.")),
    consecutiveGatewayErrors: Opt(UInt32Value("Number of gateway errors before a host is ejected from the connection pool.")),
    consecutive5xxErrors: Opt(UInt32Value("Number of 5xx errors before a host is ejected from the connection pool.")),
    interval: Opt(Duration("Time interval between ejection sweep analysis.")),
    baseEjectionTime: Opt(Duration("Minimum ejection duration.")),
    maxEjectionPercent: Opt(Int32("Maximum % of hosts in the load balancing pool for the upstream service that can be ejected.")),
    minHealthPercent: Opt(Int32("Outlier detection will be enabled as long as the associated load balancing pool has at least minHealthPercent hosts in healthy mode.")),
    consecutiveErrors: Opt(Int32("Deprecated: use consecutive5xxErrors.")),
    outlierDetectionHttpErrorCodes: Opt(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { description: "HTTP status codes counted as errors by outlier detection." })),
  },
  { description: "A Circuit breaker implementation that tracks the status of each individual host in the upstream service." },
);

export const ClientTLSSettingsSchema = Type.Object(
  {
    mode: Opt(StringEnum(CLIENT_TLS_MODES, "Indicates whether connections to this port should be secured using TLS.")),
    clientCertificate: Opt(Str("REQUIRED if mode is MUTUAL (unless credentialName is set).")),
    privateKey: Opt(Str("REQUIRED if mode is MUTUAL (unless credentialName is set).")),
    caCertificates: Opt(Str("OPTIONAL: The path to the file containing certificate authority certificates.")),
    credentialName: Opt(Str("The name of the secret that holds the TLS certs for the client.")),
    subjectAltNames: Opt(StringList("A list of alternate names to verify the subject identity in the certificate.")),
    sni: Opt(Str("SNI string to present to the server during TLS handshake.")),
    insecureSkipVerify: Opt(BoolValue("Skip verifying the server's certificate and SAN.")),
    caCrl: Opt(Str("OPTIONAL: The path to the file containing the certificate revocation list.")),
  },
  { description: "SSL/TLS related settings for upstream connections." },
);

export const TunnelSettingsSchema = Type.Object({
  protocol: Opt(Str("Specifies which protocol to use for tunneling the downstream connection: CONNECT or POST.")),
  targetHost: Str("Specifies a host to which the downstream connection is tunneled."),
  targetPort: UInt32("Specifies a port to which the downstream connection is tunneled."),
});

export const PortTrafficPolicySchema = Type.Object(
  {
    port: Opt(PortSelectorSchema),
    loadBalancer: Opt(LoadBalancerSettingsSchema),
    connectionPool: Opt(ConnectionPoolSettingsSchema),
    outlierDetection: Opt(OutlierDetectionSchema),
    tls: Opt(ClientTLSSettingsSchema),
  },
  { description: "Traffic policies that apply to specific ports of the service." },
);

export const TrafficPolicySchema = Type.Object(
  {
    loadBalancer: Opt(LoadBalancerSettingsSchema),
    connectionPool: Opt(ConnectionPoolSettingsSchema),
    outlierDetection: Opt(OutlierDetectionSchema),
    tls: Opt(ClientTLSSettingsSchema),
    portLevelSettings: Opt(Type.Array(PortTrafficPolicySchema, { maxItems: 4096, description: "Traffic policies specific to individual ports." })),
    tunnel: Opt(TunnelSettingsSchema),
    proxyProtocol: Opt(Type.Object({ version: Opt(StringEnum(PROXY_PROTOCOL_VERSIONS, "The PROXY protocol version to use.")) })),
    retryBudget: Opt(
      Type.Object({
        percent: Opt(Type.Number({ nullable: true, minimum: 0, maximum: 100, format: "double", description: "Percentage of active requests that may be retries." })),
        minRetryConcurrency: Opt(UInt32("Minimum number of concurrent retries allowed.")),
        budgetInterval: Opt(Duration("Interval over which the budget is computed.")),
      }),
    ),
  },
  { description: "Traffic policies to apply (load balancing policy, connection pool sizes, outlier detection)." },
);

export const SubsetSchema = Type.Object(
  {
    name: Str("Name of the subset."),
    labels: Opt(StringMap("Labels apply a filter over the endpoints of a service in the service registry.")),
    trafficPolicy: Opt(TrafficPolicySchema),
  },
  { description: "A subset of endpoints of a service." },
);

export const DestinationRuleSpecSchema = Type.Object(
  {
    host: Str("The name of a service from the service registry."),
    trafficPolicy: Opt(TrafficPolicySchema),
    subsets: Opt(Type.Array(SubsetSchema, { description: "One or more named sets that represent individual versions of a service." })),
    exportTo: Opt(StringList("A list of namespaces to which this destination rule is exported.")),
    workloadSelector: Opt(Type.Object({ matchLabels: Opt(StringMap("One or more labels that indicate a specific set of pods/VMs.")) })),
  },
  { description: "Configuration affecting load balancing, outlier detection, etc. See Istio's DestinationRule reference." },
);
