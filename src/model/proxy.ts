/**
 * The gateway workload a config is compiled for. An input of the compiler like the snapshot:
 * manifests and (later) informers describe it, the compiler reads it.
 */

export interface GatewayServicePort {
  name?: string;
  port: number;
  targetPort?: number;
  nodePort?: number;
  protocol?: string;
}

/** The gateway workload a config is compiled for: its pod labels and the Service exposing it. */
export interface GatewayProxy {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  servicePorts: GatewayServicePort[];
}

/** The classic `istio-ingressgateway` from Istio's chart defaults. */
export const defaultIngressGatewayProxy: GatewayProxy = Object.freeze({
  name: "istio-ingressgateway",
  namespace: "istio-system",
  labels: Object.freeze({ app: "istio-ingressgateway", istio: "ingressgateway" }) as Record<string, string>,
  servicePorts: Object.freeze([
    { name: "http2", port: 80, targetPort: 8080, protocol: "TCP" },
    { name: "https", port: 443, targetPort: 8443, protocol: "TCP" },
    { name: "tcp", port: 31400, targetPort: 31400, protocol: "TCP" },
    { name: "tls", port: 15443, targetPort: 15443, protocol: "TCP" },
  ]) as GatewayServicePort[],
}) as GatewayProxy;
