/*
 * TypeScript types of Istio's networking API, derived from the schemas in ./schema (the single
 * source of truth). Names are Istio's protobuf message names; fields are Istio's JSON names.
 */
import type { Static } from "@sinclair/typebox";
import type * as D from "./schema/destination-rule.js";
import type * as G from "./schema/gateway.js";
import type * as R from "./schema/resources.js";
import type * as V from "./schema/virtual-service.js";

export type { StringMatch } from "./schema/virtual-service.js";

export type ObjectMeta = Static<typeof R.ObjectMetaSchema>;
export type IstioCondition = Static<typeof R.IstioConditionSchema>;
export type IstioStatus = Static<typeof R.IstioStatusSchema>;

// Gateway
export type GatewaySpec = Static<typeof G.GatewaySpecSchema>;
export type Server = Static<typeof G.ServerSchema>;
export type Port = Static<typeof G.PortSchema>;
export type ServerTLSSettings = Static<typeof G.ServerTLSSettingsSchema>;
export type ServerTLSMode = (typeof G.SERVER_TLS_MODES)[number];
export type TLSProtocolVersion = (typeof G.TLS_PROTOCOL_VERSIONS)[number];
export type TLSCertificate = Static<typeof G.TLSCertificateSchema>;

// VirtualService
export type VirtualServiceSpec = Static<typeof V.VirtualServiceSpecSchema>;
export type HTTPRoute = Static<typeof V.HTTPRouteSchema>;
export type HTTPMatchRequest = Static<typeof V.HTTPMatchRequestSchema>;
export type HTTPRouteDestination = Static<typeof V.HTTPRouteDestinationSchema>;
export type RouteDestination = Static<typeof V.RouteDestinationSchema>;
export type Destination = Static<typeof V.DestinationSchema>;
export type PortSelector = Static<typeof V.PortSelectorSchema>;
export type Headers = Static<typeof V.HeadersSchema>;
export type HeaderOperations = Static<typeof V.HeaderOperationsSchema>;
export type HTTPRedirect = Static<typeof V.HTTPRedirectSchema>;
export type HTTPRewrite = Static<typeof V.HTTPRewriteSchema>;
export type RegexRewrite = Static<typeof V.RegexRewriteSchema>;
export type HTTPDirectResponse = Static<typeof V.HTTPDirectResponseSchema>;
export type HTTPBody = Static<typeof V.HTTPBodySchema>;
export type Delegate = Static<typeof V.DelegateSchema>;
export type HTTPRetry = Static<typeof V.HTTPRetrySchema>;
export type HTTPFaultInjection = Static<typeof V.HTTPFaultInjectionSchema>;
export type Delay = Static<typeof V.DelaySchema>;
export type Abort = Static<typeof V.AbortSchema>;
export type HTTPMirrorPolicy = Static<typeof V.HTTPMirrorPolicySchema>;
export type Percent = Static<typeof V.PercentSchema>;
export type CorsPolicy = Static<typeof V.CorsPolicySchema>;
export type TCPRoute = Static<typeof V.TCPRouteSchema>;
export type TLSRoute = Static<typeof V.TLSRouteSchema>;
export type L4MatchAttributes = Static<typeof V.L4MatchAttributesSchema>;
export type TLSMatchAttributes = Static<typeof V.TLSMatchAttributesSchema>;

// DestinationRule
export type DestinationRuleSpec = Static<typeof D.DestinationRuleSpecSchema>;
export type TrafficPolicy = Static<typeof D.TrafficPolicySchema>;
export type LoadBalancerSettings = Static<typeof D.LoadBalancerSettingsSchema>;
export type SimpleLB = (typeof D.SIMPLE_LB_ALGORITHMS)[number];
export type ConsistentHashLB = Static<typeof D.ConsistentHashLBSchema>;
export type LocalityLoadBalancerSetting = Static<typeof D.LocalityLoadBalancerSettingSchema>;
export type ConnectionPoolSettings = Static<typeof D.ConnectionPoolSettingsSchema>;
export type OutlierDetection = Static<typeof D.OutlierDetectionSchema>;
export type ClientTLSSettings = Static<typeof D.ClientTLSSettingsSchema>;
export type ClientTLSMode = (typeof D.CLIENT_TLS_MODES)[number];
export type Subset = Static<typeof D.SubsetSchema>;
export type PortTrafficPolicy = Static<typeof D.PortTrafficPolicySchema>;
export type TunnelSettings = Static<typeof D.TunnelSettingsSchema>;

// Whole resources
export type Gateway = Static<typeof R.GatewaySchema>;
export type VirtualService = Static<typeof R.VirtualServiceSchema>;
export type DestinationRule = Static<typeof R.DestinationRuleSchema>;
export type IstioResource = Gateway | VirtualService | DestinationRule;
export type IstioKind = IstioResource["kind"];
