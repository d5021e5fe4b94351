// Shared inputs for the node machine's tests: configuration documents, a cluster view, interfaces,
// and a driver model that applies Claim/Release to see what a node answers for.
import type { ConfigSources } from "../../../../core/config/in-force.ts"
import { addressKey } from "../../../../core/l2/ownership.ts"
import { formatAddress } from "../../../../core/net/address.ts"
import type { InterfaceInfo } from "../../../../core/speaker/interfaces.ts"
import { initialNode, type NodeInput, type NodeOutput, type NodeState, step } from "../../../../core/speaker/node.ts"
import { type NodeSettings, nodeSettings } from "../../../../core/speaker/settings.ts"
import type { ClusterSnapshot, SpeakerService } from "../../../../core/speaker/view.ts"
import { ip } from "../../ipam/pools.ts"

export const doc = (kind: string, name: string, spec: Record<string, unknown>, version = "v1beta1") =>
  ({ value: { apiVersion: `metallb.io/${version}`, kind, metadata: { name, namespace: "metallb-system" }, spec } })

export const l2Docs = [
  doc("IPAddressPool", "lan", { addresses: ["192.0.2.0/24"] }),
  doc("L2Advertisement", "lan", { ipAddressPools: ["lan"] }),
]
export const peerDoc = (spec: Record<string, unknown> = {}) =>
  doc("BGPPeer", "tor", { myASN: 64500, peerASN: 64501, peerAddress: "198.51.100.1", ...spec }, "v1beta2")
export const bgpDocs = (peer: Record<string, unknown> = {}) => [
  doc("IPAddressPool", "wan", { addresses: ["203.0.113.0/24"] }),
  doc("BGPAdvertisement", "wan", { ipAddressPools: ["wan"] }),
  peerDoc(peer),
]
/** A pool with an address that is not one: resolve() rejects the set. */
export const invalidDocs = [...l2Docs, doc("IPAddressPool", "broken", { addresses: ["192.0.2.300/32"] })]

export const sources = (documents: ReadonlyArray<{ readonly value: unknown }>): ConfigSources => ({ documents, secrets: [], namespace: "metallb-system" })

export const nodeNames = ["n1", "n2", "n3"]
export const service = (key: string, addresses: ReadonlyArray<string>): SpeakerService =>
  ({ key, labels: {}, addresses: addresses.map(ip), externalTrafficPolicy: "Cluster", sharedAddress: false })
export const snapshotOf = (services: ReadonlyArray<SpeakerService>, nodes = nodeNames): ClusterSnapshot => ({
  services,
  endpoints: new Map(services.map((s) => [s.key, nodes.map((node) => ({ node, serving: true }))])),
  nodes: nodes.map((name, i) => ({ name, labels: {}, networkUnavailable: false, addresses: [ip(`192.0.2.${i + 1}`)] })),
})
export const l2Services = (count: number) => Array.from({ length: count }, (_, i) => service(`default/s${i}`, [`192.0.2.${100 + i}`]))

export const iface = (name: string, index: number, up = true): InterfaceInfo =>
  ({ name, index, mac: `02:00:00:00:00:${index.toString(16).padStart(2, "0")}`, up, noArp: false, loopback: false, enslaved: false })
export const eth0 = iface("eth0", 2)
export const eth1 = iface("eth1", 3)

/** What the drivers were told: address -> service and interfaces answered on. */
export type Answered = Map<string, { readonly service: string; readonly ip: string; readonly interfaces: Set<string> }>

export interface Run {
  state: NodeState
  readonly outputs: Array<NodeOutput>
  readonly answered: Answered
}

export const apply = (answered: Answered, outputs: ReadonlyArray<NodeOutput>) => {
  for (const o of outputs) {
    if (o._tag === "Claim") {
      const key = addressKey(o.address)
      const entry = answered.get(key) ?? { service: o.service, ip: formatAddress(o.address), interfaces: new Set<string>() }
      for (const n of o.interfaces) entry.interfaces.add(n)
      answered.set(key, entry)
    } else if (o._tag === "Release") {
      const entry = answered.get(addressKey(o.address))
      if (entry === undefined) throw new Error(`release of ${formatAddress(o.address)}, never claimed`)
      for (const n of o.interfaces) {
        if (!entry.interfaces.delete(n)) throw new Error(`release of ${formatAddress(o.address)} on ${n}, not claimed there`)
      }
      if (entry.interfaces.size === 0) answered.delete(addressKey(o.address))
    }
  }
}

export const start = (settings: Partial<NodeSettings> & { readonly nodeName: string }): Run =>
  ({ state: initialNode(nodeSettings({ excludePatterns: [], ...settings })), outputs: [], answered: new Map() })

/** Feeds inputs; returns the outputs of these inputs only. */
export const feed = (run: Run, ...inputs: ReadonlyArray<NodeInput>): ReadonlyArray<NodeOutput> => {
  const produced: Array<NodeOutput> = []
  for (const input of inputs) {
    const t = step(run.state, input)
    run.state = t.state
    produced.push(...t.outputs)
    apply(run.answered, t.outputs)
  }
  run.outputs.push(...produced)
  return produced
}

export const tags = (outputs: ReadonlyArray<NodeOutput>) => outputs.map((o) => o._tag)
export const ips = (run: Run) => [...run.answered.values()].map((a) => a.ip).sort()

/** A node started with interfaces, configuration and cluster, at time `nowMs`. */
export const ready = (run: Run, documents: ReadonlyArray<{ readonly value: unknown }>, snapshot: ClusterSnapshot, interfaces = [eth0], nowMs = 0) =>
  feed(run,
    { _tag: "Started", nowMs },
    { _tag: "InterfacesScanned", interfaces, nowMs },
    { _tag: "ConfigChanged", sources: sources(documents), nowMs },
    { _tag: "ClusterChanged", snapshot, nowMs })
