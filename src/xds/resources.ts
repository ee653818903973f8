/**
 * The five xDS types pilotfish serves, in push order (Envoy's xDS doc and Istio's order: CDS
 * before EDS, LDS before RDS; SDS last, requested by name as clusters and listeners warm).
 */
import type { EnvoyResources } from "../envoy/resources.js";
import { typeUrl } from "../envoy/types.js";

export type XdsType = "CDS" | "EDS" | "LDS" | "RDS" | "SDS";

export const pushOrder: readonly XdsType[] = ["CDS", "EDS", "LDS", "RDS", "SDS"];

export const xdsTypeUrl: Record<XdsType, string> = {
  LDS: typeUrl.listener,
  RDS: typeUrl.routeConfiguration,
  CDS: typeUrl.cluster,
  EDS: typeUrl.clusterLoadAssignment,
  SDS: typeUrl.secret,
};

const byUrl = new Map(Object.entries(xdsTypeUrl).map(([type, url]) => [url, type as XdsType]));

export function xdsTypeOf(url: string): XdsType | undefined {
  return byUrl.get(url);
}

/** LDS and CDS are wildcard subscriptions; RDS, EDS and SDS are by name. */
export function isWildcardType(type: XdsType): boolean {
  return type === "LDS" || type === "CDS";
}

export const resourceGroup: Record<XdsType, keyof EnvoyResources> = {
  LDS: "listeners",
  RDS: "routes",
  CDS: "clusters",
  EDS: "endpoints",
  SDS: "secrets",
};
