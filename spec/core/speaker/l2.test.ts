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

  it("claims ETP Local addresses only on nodes with a serving endpoint, and nothing without endpoints", () => {
    const local = service("default/local", ["192.0.2.30"], { externalTrafficPolicy: "Local" })
    const view = snapshot([local], { "default/local": ["n2"] })
    expect(nodes.map((n) => l2Announcements(config, view, n.name, undefined).claims.length)).toEqual([0, 1, 0])
    const none = snapshot([service("default/idle", ["192.0.2.31"])], { "default/idle": [] })
    expect(nodes.flatMap((n) => l2Announcements(config, none, n.name, undefined).claims)).toEqual([])
  })
})
