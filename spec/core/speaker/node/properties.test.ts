// Properties of the node machine over random input sequences; fast-check prints the seed and the
// shrunk sequence of any failure (replay with { seed, path }).
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { NodeInput } from "../../../../core/speaker/node.ts"
import { bgpDocs, doc, feed, iface, invalidDocs, ips, l2Docs, l2Services, ready, type Run, snapshotOf, sources, start, tags } from "./fixtures.ts"

const ifaces = [iface("eth0", 2), iface("eth1", 3), iface("eth2", 4)]
const names = ifaces.map((i) => i.name)

const subset = <A>(items: ReadonlyArray<A>) => fc.subarray([...items])

/** Inputs a node may see in any order (time advances by the index). */
const anyInput = (nodes: ReadonlyArray<string>) =>
  fc.oneof(
    subset(names).map((up) => ({ _tag: "LinksPolled", up: new Set(up) }) as const),
    fc.tuple(subset(ifaces), fc.boolean()).map(([list, up]) => ({ _tag: "InterfacesScanned", interfaces: list.map((i) => ({ ...i, up })) }) as const),
    fc.integer({ min: 0, max: 12 }).map((n) => ({ _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(n)) }) as const),
    fc.tuple(subset(nodes.slice(1)), fc.boolean()).map(([others, synced]) =>
      ({ _tag: "MembersChanged", live: new Set([nodes[0]!, ...others]), down: new Map(), lost: [], ...(synced ? { syncedAtMs: 0 } : {}) }) as const),
    fc.constantFrom("join", "rejoinHold", "resync").map((name) => ({ _tag: "TimerFired", name }) as const),
    fc.constantFrom(l2Docs, invalidDocs, [...l2Docs, doc("L2Advertisement", "eth1", { ipAddressPools: ["lan"], interfaces: ["eth1"] })])
      .map((documents) => ({ _tag: "ConfigChanged", sources: sources(documents) }) as const),
  )
type Timeless = NodeInput extends infer I ? (I extends { nowMs: number } ? Omit<I, "nowMs"> : never) : never
const at = (input: Timeless, nowMs: number): NodeInput => ({ ...input, nowMs }) as NodeInput

describe("speaker node machine (properties)", () => {
  it("never answers on an interface whose link was last seen down, nor on one not in use", () => {
    fc.assert(
      fc.property(fc.array(anyInput(["n1", "n2", "n3"]), { maxLength: 60 }), fc.boolean(), (inputs, membership) => {
        const run = start({ nodeName: "n1", membership, seeds: membership ? ["n2"] : [] })
        ready(run, l2Docs, snapshotOf(l2Services(6)), ifaces)
        const lastSeenDown = new Set<string>()
        inputs.forEach((input, i) => {
          feed(run, at(input, 1_000 * (i + 1)))
          const watched = run.state.interfaces.map((x) => x.name)
          if (input._tag === "LinksPolled") for (const n of watched) if (input.up.has(n)) lastSeenDown.delete(n); else lastSeenDown.add(n)
          for (const n of [...lastSeenDown]) if (!watched.includes(n)) lastSeenDown.delete(n)
          for (const a of run.answered.values()) {
            for (const n of a.interfaces) {
              expect(watched, `${a.ip} answered on ${n}, not in use`).toContain(n)
              expect(lastSeenDown.has(n), `${a.ip} answered on ${n}, whose link is down`).toBe(false)
            }
          }
        })
      }),
      { numRuns: 300 },
    )
  })

  it("never claims before the join settled (a member's full table arrived, or the join timed out)", () => {
    const noJoin = anyInput(["n1", "n2"]).filter((i) => !(i._tag === "TimerFired" && i.name === "join") && !(i._tag === "MembersChanged" && "syncedAtMs" in i))
    fc.assert(
      fc.property(fc.array(noJoin, { maxLength: 40 }), (inputs) => {
        const run = start({ nodeName: "n1", membership: true, seeds: ["n2"] })
        ready(run, l2Docs, snapshotOf(l2Services(6)), ifaces)
        inputs.forEach((input, i) => feed(run, at(input, 10 * i)))
        expect(tags(run.outputs)).not.toContain("Claim")
        expect(run.state.phase).toBe("Joining")
      }),
      { numRuns: 200 },
    )
  })

  it("at most one node answers for an address, for any sequence of membership views the nodes agree on", () => {
    const nodes = ["n1", "n2", "n3", "n4"]
    const view = fc.record({
      members: subset(nodes).filter((m) => m.length > 0),
      // Per node, which of its two links are down (it reports them; every member sees the same).
      down: fc.array(subset(["eth0", "eth1"]), { minLength: nodes.length, maxLength: nodes.length }),
      services: fc.integer({ min: 1, max: 16 }),
    })
    const config = [...l2Docs, doc("L2Advertisement", "eth1-only", { ipAddressPools: ["lan"], interfaces: ["eth1"] })]
    fc.assert(
      fc.property(fc.array(view, { minLength: 1, maxLength: 8 }), (views) => {
        const runs = new Map<string, Run>(nodes.map((n) => [n, start({ nodeName: n, membership: true, seeds: nodes.filter((o) => o !== n) })]))
        for (const run of runs.values()) ready(run, config, snapshotOf(l2Services(4), nodes), ifaces.slice(0, 2))
        views.forEach((v, i) => {
          const nowMs = 1_000 * (i + 1)
          const down = new Map(nodes.flatMap((n, k) => (v.members.includes(n) && v.down[k]!.length > 0 ? [[n, [...v.down[k]!].sort()] as const] : [])))
          for (const [k, n] of nodes.entries()) {
            const run = runs.get(n)!
            feed(run,
              { _tag: "LinksPolled", up: new Set(["eth0", "eth1"].filter((x) => !v.down[k]!.includes(x))), nowMs },
              { _tag: "MembersChanged", live: new Set(v.members), down, lost: [], syncedAtMs: nowMs, nowMs },
              { _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(v.services), nodes), nowMs })
          }
          const owners = new Map<string, string>()
          for (const n of v.members) {
            for (const a of runs.get(n)!.answered.values()) {
              expect(owners.get(a.ip), `${a.ip} answered by ${owners.get(a.ip)} and ${n}`).toBeUndefined()
              owners.set(a.ip, n)
            }
          }
        })
      }),
      { numRuns: 300 },
    )
  })

  it("a leaver claims nothing more, and releases everything when the hand-over ends", () => {
    fc.assert(
      fc.property(fc.array(anyInput(["n1", "n2"]), { maxLength: 20 }), fc.array(anyInput(["n1", "n2"]), { maxLength: 20 }), (before, after) => {
        const run = start({ nodeName: "n1", membership: true, seeds: [] })
        ready(run, [...l2Docs, ...bgpDocs()], snapshotOf(l2Services(6)), ifaces)
        before.forEach((input, i) => feed(run, at(input, 10 * i)))
        const leaving = feed(run, { _tag: "Terminate", nowMs: 1_000 })
        expect(tags(leaving)).toContain("Silence")
        const during = after.flatMap((input, i) => feed(run, at(input, 1_001 + i)))
        // A rescan may still release an address on an interface that went away; nothing is taken up.
        const taking = ["Claim", "OpenSession", "UpdateRoutes", "WriteStatus", "Emit", "JoinMembership", "SetDownInterfaces"]
        expect(tags(during).filter((t) => taking.includes(t))).toEqual([])
        const end = feed(run, { _tag: "TimerFired", name: "handOver", nowMs: 3_000 })
        expect(ips(run)).toEqual([])
        expect(run.state.sessions.size).toBe(0)
        expect(tags(end).at(-1)).toBe("Stopped")
      }),
      { numRuns: 200 },
    )
  })

  it("an invalid configuration keeps the last valid one in force", () => {
    const a = [doc("IPAddressPool", "lan", { addresses: ["192.0.2.0/25"] }), doc("L2Advertisement", "lan", { ipAddressPools: ["lan"] })]
    const b = [doc("IPAddressPool", "lan", { addresses: ["192.0.2.100/30"] }), doc("L2Advertisement", "lan", { ipAddressPools: ["lan"] })]
    const choices = { a, b, invalid: invalidDocs }
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", "b", "invalid" as const), { minLength: 1, maxLength: 12 }), (sequence) => {
        const run = start({ nodeName: "n1" })
        ready(run, [], snapshotOf(l2Services(12), ["n1"]), ifaces.slice(0, 1))
        let lastValid: "a" | "b" | undefined
        sequence.forEach((pick, i) => {
          feed(run, { _tag: "ConfigChanged", sources: sources(choices[pick]), nowMs: i + 1 })
          if (pick !== "invalid") lastValid = pick
          const fresh = start({ nodeName: "n1" })
          ready(fresh, lastValid === undefined ? [] : choices[lastValid], snapshotOf(l2Services(12), ["n1"]), ifaces.slice(0, 1))
          expect(ips(run)).toEqual(ips(fresh))
        })
      }),
      { numRuns: 200 },
    )
  })

  it("restarts a BGP session exactly when its peer's configuration changed", () => {
    const variants = [{}, { holdTime: "30s" }, { password: "secret" }, { peerPort: 1179 }]
    const step = fc.record({ variant: fc.integer({ min: 0, max: variants.length - 1 }), withL2: fc.boolean(), services: fc.integer({ min: 0, max: 4 }) })
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 15 }), (steps) => {
        const run = start({ nodeName: "n1" })
        ready(run, bgpDocs(), snapshotOf([]))
        let current = 0
        let expected = 0
        steps.forEach((s, i) => {
          if (s.variant !== current) expected += 1
          current = s.variant
          const wan = Array.from({ length: s.services }, (_, k) => ({ key: `default/w${k}`, labels: {}, addresses: [{ family: "ipv4" as const, value: 0xcb007100n + BigInt(k) }], externalTrafficPolicy: "Cluster" as const, sharedAddress: false }))
          feed(run,
            { _tag: "ConfigChanged", sources: sources([...bgpDocs(variants[s.variant]), ...(s.withL2 ? l2Docs : [])]), nowMs: i + 1 },
            { _tag: "ClusterChanged", snapshot: snapshotOf(wan), nowMs: i + 1 })
        })
        expect(tags(run.outputs).filter((t) => t === "CloseSession")).toHaveLength(expected)
        expect(tags(run.outputs).filter((t) => t === "OpenSession")).toHaveLength(expected + 1)
      }),
      { numRuns: 200 },
    )
  })
})
