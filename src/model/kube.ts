/**
 * The Kubernetes core inputs the compiler reads, as plain JSON shapes (what `kubectl get -o json`
 * or a YAML manifest gives). Only the fields the compiler uses are typed.
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generation?: number;
  creationTimestamp?: string;
  uid?: string;
  resourceVersion?: string;
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
  protocol?: string;
  appProtocol?: string;
}

export interface Service {
  apiVersion?: string;
  kind?: "Service";
  metadata: ObjectMeta;
  spec?: {
    type?: string;
    selector?: Record<string, string>;
    ports?: ServicePort[];
    clusterIP?: string;
  };
}

export interface EndpointPort {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

export interface Endpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: { kind?: string; name?: string; namespace?: string };
}

/**
 * discovery.k8s.io/v1 EndpointSlice. Pod labels are not part of a slice; the snapshot carries them
 * per endpoint address (from Pods when a source has them) so DestinationRule subsets can select.
 */
export interface EndpointSlice {
  apiVersion?: string;
  kind?: "EndpointSlice";
  metadata: ObjectMeta;
  addressType?: string;
  endpoints?: Endpoint[];
  ports?: EndpointPort[];
}

export interface Secret {
  apiVersion?: string;
  kind?: "Secret";
  metadata: ObjectMeta;
  type?: string;
  /** base64, as stored by Kubernetes. */
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export interface Pod {
  apiVersion?: string;
  kind?: "Pod";
  metadata: ObjectMeta;
  status?: { podIP?: string; podIPs?: { ip: string }[] };
}
