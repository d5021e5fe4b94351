import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Config } from "../../../core/config/config.ts"
import { resolve } from "../../../core/config/resolve.ts"
import { formatAddress } from "../../../core/net/address.ts"
import { l2Announcements } from "../../../core/speaker/l2.ts"
import type { ClusterSnapshot, SpeakerService } from "../../../core/speaker/view.ts"
import { ip } from "../ipam/pools.ts"

const doc = (kind: string, name: string, spec: Record<string, unknown>) => ({ value: { apiVersion: "metallb.io/v1beta1", kind, metadata: { name }, spec } })
const configOf = (...docs: Array<ReturnType<typeof doc>>): Config => {
  const r = resolve(docs)
  if (r._tag === "Invalid") throw new Error(JSON.stringify(r.errors))
  return r.config
}
const config = configOf(
  doc("IPAddressPool", "lan", { addresses: ["192.0.2.0/24", "2001:db8::/120"] }),
  doc("L2Advertisement", "eth", { ipAddressPools: ["lan"], interfaces: ["eth0"] }),
  doc("L2Advertisement", "bond-on-rack-b", { ipAddressPools: ["lan"], interfaces: ["bond0"], nodeSelectors: [{ matchLabels: { rack: "b" } }] }),
)
const nodes = ["n1", "n2", "n3"].map((name, i) => ({ name, labels: { rack: i === 2 ? "b" : "a" }, networkUnavailable: false }))
const service = (key: string, addresses: Array<string>, extra: Partial<SpeakerService> = {}): SpeakerService =>
  ({ key, labels: {}, addresses: addresses.map(ip), externalTrafficPolicy: "Cluster", sharedAddress: false, ...extra })
const snapshot = (services: Array<SpeakerService>, endpoints: Record<string, Array<string>> = {}): ClusterSnapshot => ({
  services,
  endpoints: new Map(services.map((s) => [s.key, (endpoints[s.key] ?? ["n1"]).map((node) => ({ node, serving: true }))])),
  nodes,
})

describe("speaker Layer 2 claims", () => {
  it("lets exactly one node claim each address, on the interfaces its advertisements select", () => {
    const view = snapshot([service("default/web", ["192.0.2.10", "2001:db8::10"])])
    const claims = nodes.map((n) => l2Announcements(config, view, n.name, undefined).claims)
    expect(claims.filter((c) => c.length > 0)).toHaveLength(1)
    const owner = nodes[claims.findIndex((c) => c.length > 0)]!.name
    const own = claims.flat()
    expect(own.map((c) => formatAddress(c.address))).toEqual(["192.0.2.10", "2001:db8::10"])
    expect(own[0]?.interfaces).toEqual(owner === "n3" ? ["bond0", "eth0"] : ["eth0"])
  })

  it("moves only the dead owner's addresses when it leaves the membership (property)", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 250 }), { minLength: 1, maxLength: 30 }), fc.constantFrom("n1", "n2", "n3"), (hosts, dead) => {
        const view = snapshot(hosts.map((h) => service(`default/s${h}`, [`192.0.2.${h}`])))
        const all = new Set(nodes.map((n) => n.name))
        const alive = new Set([...all].filter((n) => n !== dead))
        const ownerOf = (members: ReadonlySet<string>) => {
          const owners = new Map<string, string>()
          for (const n of members) for (const c of l2Announcements(config, view, n, members).claims) {
            expect(owners.has(c.service), `${c.service} claimed twice`).toBe(false)
            owners.set(c.service, n)
          }
          return owners
        }
        const before = ownerOf(all)
        const after = ownerOf(alive)
        expect(after.size).toBe(before.size)
        for (const [svc, owner] of before) if (owner !== dead) expect(after.get(svc)).toBe(owner)
      }),
      { numRuns: 1000 },
    )
  })

  describe("with interfaces down (data-path failover per interface)", () => {
    // Two segments: "lan" announced on eth0 (and bond0 on rack b), "seg2" on eth1 only, "both" on either.
    const twoSegments = configOf(
      doc("IPAddressPool", "lan", { addresses: ["192.0.2.0/24"] }),
      doc("IPAddressPool", "seg2", { addresses: ["198.51.100.0/24"] }),
      doc("IPAddressPool", "both", { addresses: ["203.0.113.0/24"] }),
      doc("L2Advertisement", "eth", { ipAddressPools: ["lan"], interfaces: ["eth0"] }),
      doc("L2Advertisement", "bond-on-rack-b", { ipAddressPools: ["lan"], interfaces: ["bond0"], nodeSelectors: [{ matchLabels: { rack: "b" } }] }),
      doc("L2Advertisement", "second-segment", { ipAddressPools: ["seg2"], interfaces: ["eth1"] }),
      doc("L2Advertisement", "either", { ipAddressPools: ["both"], interfaces: ["eth0", "eth1"] }),
    )
    // The oracle, written out from the advertisements above.
    const announcingOn = (node: string, address: string): ReadonlyArray<string> =>
      address.startsWith("192.0.2.") ? (node === "n3" ? ["bond0", "eth0"] : ["eth0"]) : address.startsWith("198.51.100.") ? ["eth1"] : ["eth0", "eth1"]
    const prefixes = ["192.0.2.", "198.51.100.", "203.0.113."]
    const arbCase = fc.record({
      hosts: fc.uniqueArray(fc.tuple(fc.constantFrom(...prefixes), fc.integer({ min: 1, max: 250 })).map(([p, h]) => `${p}${h}`), { minLength: 1, maxLength: 24 }),
      members: fc.subarray(["n1", "n2", "n3"], { minLength: 1 }),
      down: fc.tuple(...["n1", "n2", "n3"].map(() => fc.subarray(["eth0", "eth1", "bond0"], { maxLength: 2 }))),
    })
    /** Every member's decision from the same view: owner per service, after checking they all agree. */
    const decide = (view: ClusterSnapshot, members: ReadonlySet<string>, downInterfaces?: ReadonlyMap<string, ReadonlyArray<string>>) => {
      const decisions = [...members].map((n) => ({ n, d: l2Announcements(twoSegments, view, n, members, downInterfaces === undefined ? {} : { downInterfaces }) }))
      const owners = new Map<string, string>()
      for (const { n, d } of decisions) {
        expect(d.elections).toEqual(decisions[0]!.d.elections)
        for (const c of d.claims) {
          expect(d.elections.get(c.service)?.owner).toBe(n)
          owners.set(c.service, n)
        }
      }
      return { owners, elections: decisions[0]!.d.elections }
    }

    it("never elects a node whose announcing interfaces are all down; moves only those addresses; every node agrees (property)", () => {
      let moved = 0
      let stayed = 0
      fc.assert(
        fc.property(arbCase, ({ hosts, members, down }) => {
          const view = snapshot(hosts.map((h) => service(`default/s${h}`, [h])))
          const live = new Set(members)
          const downInterfaces = new Map(["n1", "n2", "n3"].map((n, i) => [n, down[i]!] as const).filter(([, d]) => d.length > 0))
          const cutOff = (node: string, address: string) => announcingOn(node, address).every((i) => downInterfaces.get(node)?.includes(i))
          const before = decide(view, live)
          const after = decide(view, live, downInterfaces)
          for (const h of hosts) {
            const key = `default/s${h}`
            const was = before.elections.get(key)!
            const now = after.elections.get(key)!
            expect(now.candidates).toEqual(was.candidates.filter((n) => !cutOff(n, h)))
            if (now.owner !== undefined) expect(cutOff(now.owner, h)).toBe(false)
            expect(after.owners.get(key)).toBe(now.owner)
            if (was.owner !== undefined && !cutOff(was.owner, h)) {
              expect(now.owner).toBe(was.owner)
              stayed++
            } else if (was.owner !== undefined) {
              expect(now.owner).not.toBe(was.owner)
              expect(now.reason).toBe(now.owner === undefined ? "AnnouncingInterfacesDown" : "Elected")
              moved++
            }
          }
        }),
        { numRuns: 1000 },
      )
      expect(moved).toBeGreaterThan(500)
      expect(stayed).toBeGreaterThan(500)
    })

    it("keeps claiming on the interfaces still up when another interface of the claim is down", () => {
      const view = snapshot([service("default/web", ["203.0.113.7"])])
      const members = new Set(["n1", "n2", "n3"])
      const { owners } = decide(view, members)
      const owner = owners.get("default/web")!
      const d = l2Announcements(twoSegments, view, owner, members, { downInterfaces: new Map([[owner, ["eth1"]]]) })
      expect(d.claims.map((c) => c.interfaces)).toEqual([["eth0", "eth1"]])
    })
  })

  it("claims ETP Local addresses only on nodes with a serving endpoint, and nothing without endpoints", () => {
    const local = service("default/local", ["192.0.2.30"], { externalTrafficPolicy: "Local" })
    const view = snapshot([local], { "default/local": ["n2"] })
    expect(nodes.map((n) => l2Announcements(config, view, n.name, undefined).claims.length)).toEqual([0, 1, 0])
    const none = snapshot([service("default/idle", ["192.0.2.31"])], { "default/idle": [] })
    expect(nodes.flatMap((n) => l2Announcements(config, none, n.name, undefined).claims)).toEqual([])
  })
})
