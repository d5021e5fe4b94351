// A cluster as the plan reads it, built by hand: configuration documents, Services (as the controller
// sees them) and the speaker's view derived from them, nodes with a serving endpoint each.
import type { ServiceView } from "../../../core/controller/service.ts"
import { parseAddress } from "../../../core/net/address.ts"
import type { ClusterState } from "../../../core/snapshot/cluster-state.ts"
import type { SpeakerService } from "../../../core/speaker/view.ts"

export const pool = (name: string, addresses: ReadonlyArray<string>, spec: Record<string, unknown> = {}) => ({
  apiVersion: "metallb.io/v1beta1",
  kind: "IPAddressPool",
  metadata: { name, namespace: "metallb-system" },
  spec: { addresses, ...spec },
})

export const l2 = (name: string, pools?: ReadonlyArray<string>) => ({
  apiVersion: "metallb.io/v1beta1",
  kind: "L2Advertisement",
  metadata: { name, namespace: "metallb-system" },
  spec: pools === undefined ? {} : { ipAddressPools: pools },
})

export const peer = (name: string, address: string) => ({
  apiVersion: "metallb.io/v1beta2",
  kind: "BGPPeer",
  metadata: { name, namespace: "metallb-system" },
  spec: { myASN: 64500, peerASN: 64501, peerAddress: address },
})

export const bgpAd = (name: string, pools: ReadonlyArray<string>, spec: Record<string, unknown> = {}) => ({
  apiVersion: "metallb.io/v1beta1",
  kind: "BGPAdvertisement",
  metadata: { name, namespace: "metallb-system" },
  spec: { ipAddressPools: pools, ...spec },
})

let clusterIp = 1
export const service = (name: string, ingress: ReadonlyArray<string> = [], extra: Partial<ServiceView> = {}): ServiceView => ({
  namespace: "default",
  name,
  labels: {},
  annotations: {},
  type: "LoadBalancer",
  clusterIPs: [`198.18.0.${clusterIp++ % 250 + 1}`],
  ports: [{ protocol: "TCP", port: 80 }],
  ingressIPs: ingress,
  ...extra,
})

/** ingress with the pool annotation the controller writes beside it. */
export const allocated = (name: string, ip: string, poolName: string, extra: Partial<ServiceView> = {}): ServiceView =>
  service(name, [ip], { ...extra, annotations: { "metallb.io/ip-allocated-from-pool": poolName, ...extra.annotations } })

const speakerService = (s: ServiceView): SpeakerService => {
  const pool = s.annotations["metallb.io/ip-allocated-from-pool"]
  return {
    key: `${s.namespace}/${s.name}`,
    labels: s.labels,
    addresses: s.ingressIPs.flatMap((ip) => {
      const p = parseAddress(ip)
      return p._tag === "Success" ? [p.success] : []
    }),
    ...(pool === undefined ? {} : { pool }),
    externalTrafficPolicy: s.externalTrafficPolicy ?? "Cluster",
    sharedAddress: false,
  }
}

export const nodeNames = ["node-a", "node-b"] as const

export const clusterOf = (documents: ReadonlyArray<unknown>, services: ReadonlyArray<ServiceView>, extra: Partial<ClusterState> = {}): ClusterState => ({
  source: "test",
  metallbNamespace: "metallb-system",
  services,
  namespaces: [{ name: "default", labels: { "kubernetes.io/metadata.name": "default" } }],
  config: { documents: documents.map((value) => ({ value })), secrets: [], namespace: "metallb-system" },
  speaker: {
    services: services.filter((s) => s.type === "LoadBalancer").map(speakerService),
    endpoints: new Map(services.map((s) => [`${s.namespace}/${s.name}`, nodeNames.map((node) => ({ node, serving: true }))])),
    nodes: nodeNames.map((name, i) => ({ name, labels: { "kubernetes.io/hostname": name }, networkUnavailable: false, addresses: [parseOk(`203.0.113.${200 + i}`)] })),
  },
  statuses: [],
  unreadable: [],
  ...extra,
})

const parseOk = (text: string) => {
  const p = parseAddress(text)
  if (p._tag === "Failure") throw new Error(text)
  return p.success
}

export const docs = (...values: ReadonlyArray<unknown>) => values.map((value) => ({ value, source: { file: "new.yaml" } }))
