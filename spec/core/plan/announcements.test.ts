// announcementsOf asks each owner for its Layer 2 claims over its own services only: the same claims
// as every node's speaker computing over the whole view (l2Announcements per node), on random clusters.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { resolve } from "../../../core/config/resolve.ts"
import { parseAddress } from "../../../core/net/address.ts"
import { announcementsOf } from "../../../core/plan/announcements.ts"
import { l2Announcements } from "../../../core/speaker/l2.ts"
import type { ClusterSnapshot } from "../../../core/speaker/view.ts"
import { formatAddress } from "../../../core/net/address.ts"
import { l2, pool } from "./fixtures.ts"

const config = (() => {
  const interfacesAd = { ...l2("rack-a"), spec: { ipAddressPools: ["main"], interfaces: ["eth1"], nodeSelectors: [{ matchLabels: { rack: "a" } }] } }
  const r = resolve([pool("main", ["192.0.2.0/28"]), l2("everywhere", ["main"]), interfacesAd].map((value) => ({ value })))
  if (r._tag === "Invalid") throw new Error(JSON.stringify(r.errors))
  return r.config
})()

const ip = (text: string) => {
  const p = parseAddress(text)
  if (p._tag === "Failure") throw new Error(text)
  return p.success
}

const cluster = fc.record({
  nodes: fc.uniqueArray(fc.record({ name: fc.constantFrom("n1", "n2", "n3", "n4"), rack: fc.constantFrom("a", "b"), down: fc.boolean() }), { selector: (n) => n.name, minLength: 1 }),
  services: fc.array(fc.record({ ip: fc.integer({ min: 0, max: 15 }), local: fc.boolean(), endpoints: fc.subarray(["n1", "n2", "n3", "n4"]) }), { maxLength: 10 }),
  members: fc.option(fc.subarray(["n1", "n2", "n3", "n4"]), { nil: undefined }),
})

describe("announcementsOf", () => {
  it("claims the same addresses on the same interfaces as each node's l2Announcements over the whole view", () => {
    fc.assert(fc.property(cluster, (c) => {
      const snapshot: ClusterSnapshot = {
        services: c.services.map((s, i) => ({
          key: `default/s${i}`,
          labels: {},
          addresses: [ip(`192.0.2.${s.ip}`)],
          pool: "main",
          externalTrafficPolicy: s.local ? "Local" : "Cluster",
          sharedAddress: false,
        })),
        endpoints: new Map(c.services.map((s, i) => [`default/s${i}`, s.endpoints.map((node) => ({ node, serving: true }))])),
        nodes: c.nodes.map((n) => ({ name: n.name, labels: { rack: n.rack }, networkUnavailable: n.down })),
      }
      const members = c.members === undefined ? undefined : new Set(c.members)
      const fast = announcementsOf(config, snapshot, members === undefined ? {} : { members }).filter((a) => a.protocol === "layer2")
        .map((a) => `${a.node} ${a.service} ${a.target} ${(a.interfaces ?? []).join(",")}`).sort()
      const each = snapshot.nodes.flatMap((n) => l2Announcements(config, snapshot, n.name, members).claims
        .map((claim) => `${n.name} ${claim.service} ${formatAddress(claim.address)} ${claim.interfaces.join(",")}`)).sort()
      expect(fast).toEqual(each)
    }), { numRuns: 300 })
  })
})
