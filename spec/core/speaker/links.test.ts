// What a speaker reports about its Layer 2 interfaces, and what the election makes of it: a node
// without the interface an L2Advertisement names is passed over for the addresses announced there.
import { describe, expect, it } from "vitest"
import type { Config } from "../../../core/config/config.ts"
import { resolve } from "../../../core/config/resolve.ts"
import { formatAddress } from "../../../core/net/address.ts"
import { l2Announcements } from "../../../core/speaker/l2.ts"
import { linkReport, namedInterfaces } from "../../../core/speaker/links.ts"
import type { ClusterSnapshot } from "../../../core/speaker/view.ts"
import { ip } from "../ipam/pools.ts"

const doc = (kind: string, name: string, spec: Record<string, unknown>) => ({ value: { apiVersion: "metallb.io/v1beta1", kind, metadata: { name }, spec } })
const configOf = (...docs: Array<ReturnType<typeof doc>>): Config => {
  const r = resolve(docs)
  if (r._tag === "Invalid") throw new Error(JSON.stringify(r.errors))
  return r.config
}

describe("linkReport", () => {
  it("reports down links and named interfaces this node lacks; all down only when every usable one is", () => {
    expect(linkReport(["eth0", "eth1"], new Set(["eth0"]), ["eth1", "vlan20"])).toEqual({ down: ["eth1"], missing: ["vlan20"], reported: ["eth1", "vlan20"], allDown: false })
    expect(linkReport(["eth0"], new Set(), [])).toEqual({ down: ["eth0"], missing: [], reported: ["eth0"], allDown: true })
    // No usable interface at all is not "every link down": there is nothing to lose.
    expect(linkReport([], new Set(), ["eth0"])).toEqual({ down: [], missing: ["eth0"], reported: ["eth0"], allDown: false })
    // Bounded as the membership metadata is.
    const many = Array.from({ length: 20 }, (_, i) => `vlan${100 + i}`)
    expect(linkReport(["eth0"], new Set(["eth0"]), many).reported).toHaveLength(16)
  })

  it("takes the names every L2Advertisement lists", () => {
    const config = configOf(
      doc("IPAddressPool", "a", { addresses: ["192.0.2.0/28"] }),
      doc("L2Advertisement", "one", { ipAddressPools: ["a"], interfaces: ["vlan20", "eth0"] }),
      doc("L2Advertisement", "two", { ipAddressPools: ["a"], interfaces: ["eth0"] }),
      doc("L2Advertisement", "all", { ipAddressPools: ["a"] }),
    )
    expect(namedInterfaces(config)).toEqual(["eth0", "vlan20"])
    expect(namedInterfaces(undefined)).toEqual([])
  })

  it("makes the election pass over a node that lacks the only interface the address is announced on", () => {
    const config = configOf(
      doc("IPAddressPool", "vlan", { addresses: ["198.51.100.0/28"] }),
      doc("L2Advertisement", "vlan", { ipAddressPools: ["vlan"], interfaces: ["vlan20"] }),
    )
    const view: ClusterSnapshot = {
      services: Array.from({ length: 8 }, (_, i) => ({ key: `default/s${i}`, labels: {}, addresses: [ip(`198.51.100.${i}`)], externalTrafficPolicy: "Cluster" as const, sharedAddress: false })),
      endpoints: new Map(Array.from({ length: 8 }, (_, i) => [`default/s${i}`, [{ node: "n1", serving: true }]])),
      nodes: ["n1", "n2", "n3"].map((name) => ({ name, labels: {}, networkUnavailable: false })),
    }
    const members = new Set(["n1", "n2", "n3"])
    // n2 has no vlan20: what it reports.
    const n2 = linkReport(["eth0"], new Set(["eth0"]), namedInterfaces(config))
    const downInterfaces = new Map([["n2", n2.reported]])
    const owners = ["n1", "n2", "n3"].flatMap((n) => l2Announcements(config, view, n, members, { downInterfaces }).claims.map((c) => [formatAddress(c.address), n] as const))
    expect(owners).toHaveLength(8)
    expect(owners.every(([, n]) => n !== "n2")).toBe(true)
    // Without the report, the hash gives n2 some of them: addresses it would answer nowhere.
    const unaware = ["n1", "n2", "n3"].flatMap((n) => l2Announcements(config, view, n, members).claims.map(() => n))
    expect(unaware).toContain("n2")
  })
})
