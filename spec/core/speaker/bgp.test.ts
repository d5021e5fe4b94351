import { describe, expect, it } from "vitest"
import type { Config } from "../../../core/config/config.ts"
import { resolve } from "../../../core/config/resolve.ts"
import { formatPrefix } from "../../../core/net/prefix.ts"
import { bgpAnnouncements, peersForNode } from "../../../core/speaker/bgp.ts"
import type { ClusterSnapshot, NodeView, SpeakerService } from "../../../core/speaker/view.ts"
import { ip } from "../ipam/pools.ts"

const doc = (kind: string, name: string, spec: Record<string, unknown>, version = "v1beta1") =>
  ({ value: { apiVersion: `metallb.io/${version}`, kind, metadata: { name }, spec } })

const config: Config = (() => {
  const r = resolve([
    doc("IPAddressPool", "pool", { addresses: ["198.51.100.0/24", "2001:db8:1::/64"] }),
    doc("IPAddressPool", "quiet", { addresses: ["203.0.113.0/24"] }),
    doc("BGPPeer", "tor-a", { myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.1", nodeSelectors: [{ matchLabels: { rack: "a" } }] }, "v1beta2"),
    doc("BGPPeer", "tor-b", { myASN: 64500, peerASN: 64502, peerAddress: "192.0.2.2", nodeSelectors: [{ matchLabels: { rack: "b" } }] }, "v1beta2"),
    doc("BGPPeer", "spine", { myASN: 64500, peerASN: 64500, peerAddress: "192.0.2.3" }, "v1beta2"),
    doc("BGPAdvertisement", "all", { ipAddressPools: ["pool"] }),
    doc("BGPAdvertisement", "aggregate-to-spine", { ipAddressPools: ["pool"], aggregationLength: 24, aggregationLengthV6: 64, peers: ["spine"], localPref: 50 }),
  ])
  if (r._tag === "Invalid") throw new Error(JSON.stringify(r.errors))
  return r.config
})()

const node = (name: string, labels: Record<string, string> = {}, networkUnavailable = false): NodeView => ({ name, labels, networkUnavailable })
const service = (key: string, addresses: Array<string>, extra: Partial<SpeakerService> = {}): SpeakerService =>
  ({ key, labels: {}, addresses: addresses.map(ip), externalTrafficPolicy: "Cluster", sharedAddress: false, ...extra })
const snapshot = (services: Array<SpeakerService>, endpoints: Record<string, Array<string>>): ClusterSnapshot => ({
  services,
  endpoints: new Map(Object.entries(endpoints).map(([k, nodes]) => [k, nodes.map((n) => ({ node: n, serving: true }))])),
  nodes: [],
})
const prefixes = (routes: ReadonlyMap<string, ReadonlyArray<{ prefix: Parameters<typeof formatPrefix>[0] }>>) =>
  Object.fromEntries([...routes].map(([peer, rs]) => [peer, rs.map((r) => formatPrefix(r.prefix)).sort()]))

describe("speaker BGP announcements", () => {
  it("peers with the routers whose nodeSelectors select the node", () => {
    expect(peersForNode(config, node("n1", { rack: "a" }))).toEqual(["spine", "tor-a"])
    expect(peersForNode(config, node("n2", { rack: "b" }))).toEqual(["spine", "tor-b"])
  })

  it("announces each address to every peer, aggregated only where an advertisement says so", () => {
    const view = snapshot([service("default/web", ["198.51.100.7", "2001:db8:1::7"])], { "default/web": ["elsewhere"] })
    expect(prefixes(bgpAnnouncements(config, view, node("n1", { rack: "a" })))).toEqual({
      "tor-a": ["198.51.100.7/32", "2001:db8:1::7/128"],
      spine: ["198.51.100.0/24", "198.51.100.7/32", "2001:db8:1::/64", "2001:db8:1::7/128"],
    })
  })

  it("announces ETP Local services only from nodes with a serving endpoint, and nothing without endpoints", () => {
    const local = service("default/local", ["198.51.100.9"], { externalTrafficPolicy: "Local" })
    const view = snapshot([local, service("default/idle", ["198.51.100.10"])], { "default/local": ["n2"] })
    expect(prefixes(bgpAnnouncements(config, view, node("n1", { rack: "a" })))["tor-a"]).toEqual([])
    expect(prefixes(bgpAnnouncements(config, view, node("n2", { rack: "b" })))["tor-b"]).toEqual(["198.51.100.9/32"])
  })

  it("announces nothing from excluded or NetworkUnavailable nodes, and nothing for pools without an advertisement", () => {
    const view = snapshot([service("default/web", ["198.51.100.7"]), service("default/q", ["203.0.113.1"])], { "default/web": ["n1"], "default/q": ["n1"] })
    const excluded = node("n1", { rack: "a", "node.kubernetes.io/exclude-from-external-load-balancers": "" })
    expect(prefixes(bgpAnnouncements(config, view, excluded))["tor-a"]).toEqual([])
    expect(prefixes(bgpAnnouncements(config, view, excluded, { ignoreExcludeLb: true }))["tor-a"]).toEqual(["198.51.100.7/32"])
    expect(prefixes(bgpAnnouncements(config, view, node("n1", { rack: "a" }, true)))["tor-a"]).toEqual([])
    expect(prefixes(bgpAnnouncements(config, view, node("n1", { rack: "a" })))["tor-a"]).toEqual(["198.51.100.7/32"])
  })

  it("carries the advertisement's LOCAL_PREF to the routes", () => {
    const view = snapshot([service("default/web", ["198.51.100.7"])], { "default/web": ["n1"] })
    const spine = bgpAnnouncements(config, view, node("n1", { rack: "a" })).get("spine") ?? []
    expect(spine.find((r) => formatPrefix(r.prefix) === "198.51.100.0/24")?.localPref).toBe(50)
  })
})
