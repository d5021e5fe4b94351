// The node machine's BGPSessionState objects (core/speaker/node/session-state.ts): one per open session,
// written only on a change of its BGP or BFD state, deleted when the session closes or fails or the
// speaker stops, a previous pod's reconciled once the node has decided its sessions. The property
// drives random inputs against a model of the API (what the Write/Delete outputs leave there).
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { BfdState } from "../../../../core/bfd/packet.ts"
import type { SessionStateName } from "../../../../core/bgp/session/outputs.ts"
import type { NodeInput, NodeOutput } from "../../../../core/speaker/node.ts"
import { bfdStatusText, sessionPeerId } from "../../../../core/speaker/node/session-state.ts"
import { bgpDocs, doc, feed, l2Docs, ready, type Run, service, snapshotOf, sources, start } from "./fixtures.ts"

const wan = snapshotOf([service("default/wan", ["203.0.113.5"])])
const sessionOutputs = (out: ReadonlyArray<NodeOutput>) => out.filter((o) => o._tag === "WriteSessionState" || o._tag === "DeleteSessionState")
const bfdProfile = doc("BFDProfile", "fast", {})
const changed = (peer: string, bgp: SessionStateName, bfd: BfdState | undefined, nowMs: number): NodeInput => ({ _tag: "SessionStateChanged", peer, bgp, bfd, nowMs })

describe("speaker node machine: BGPSessionState", () => {
  it("a session opened is published Idle; each change of its BGP or BFD state is written once, since when its BGP state began", () => {
    const run = start({ nodeName: "n1" })
    expect(sessionOutputs(ready(run, bgpDocs(), wan, undefined, 5))).toEqual([
      { _tag: "WriteSessionState", peer: "tor", status: { bgpStatus: "Idle", bfdStatus: "N/A", node: "n1", peer: "198.51.100.1", vrf: "" }, sinceMs: 5 },
    ])
    expect(sessionOutputs(feed(run, changed("tor", "Connect", undefined, 10)))).toEqual([
      { _tag: "WriteSessionState", peer: "tor", status: { bgpStatus: "Connect", bfdStatus: "N/A", node: "n1", peer: "198.51.100.1", vrf: "" }, sinceMs: 10 },
    ])
    expect(sessionOutputs(feed(run, changed("tor", "Connect", undefined, 11), { _tag: "TimerFired", name: "resync", nowMs: 12 }))).toEqual([])
    // A peer without a BFD profile says N/A whatever is reported.
    expect(sessionOutputs(feed(run, changed("tor", "Connect", "Up", 13)))).toEqual([])
  })

  it("with a BFD profile: down at first, then FRR's words; a BFD change keeps the BGP state's since", () => {
    const run = start({ nodeName: "n1" })
    const opened = sessionOutputs(ready(run, [...bgpDocs({ bfdProfile: "fast" }), bfdProfile], wan))
    expect(opened.map((o) => o._tag === "WriteSessionState" && o.status.bfdStatus)).toEqual(["down"])
    feed(run, changed("tor", "Established", "Init", 20))
    expect(sessionOutputs(feed(run, changed("tor", "Established", "Up", 30)))).toEqual([
      { _tag: "WriteSessionState", peer: "tor", status: { bgpStatus: "Established", bfdStatus: "up", node: "n1", peer: "198.51.100.1", vrf: "" }, sinceMs: 20 },
    ])
    expect(["AdminDown", "Down", "Init", "Up", undefined].map((s) => bfdStatusText(s as BfdState | undefined))).toEqual(["shutdown", "down", "init", "up", "N/A"])
  })

  it("a session closed or failed loses its object; one restarted with new settings is rewritten, not deleted; a late report of a closed one is dropped", () => {
    const run = start({ nodeName: "n1" })
    ready(run, bgpDocs(), wan)
    feed(run, changed("tor", "Established", undefined, 1))
    const restarted = feed(run, { _tag: "ConfigChanged", sources: sources(bgpDocs({ holdTime: "30s" })), nowMs: 2 })
    expect(sessionOutputs(restarted)).toEqual([
      { _tag: "WriteSessionState", peer: "tor", status: { bgpStatus: "Idle", bfdStatus: "N/A", node: "n1", peer: "198.51.100.1", vrf: "" }, sinceMs: 2 },
    ])
    expect(sessionOutputs(feed(run, { _tag: "SessionFailed", peer: "tor", reason: "socket: EPERM", nowMs: 3 }))).toEqual([{ _tag: "DeleteSessionState", peer: "tor" }])
    expect(sessionOutputs(feed(run, changed("tor", "Active", undefined, 4)))).toEqual([])
    expect(sessionOutputs(feed(run, { _tag: "TimerFired", name: "resync", nowMs: 5 })).map((o) => o._tag)).toEqual(["WriteSessionState"])
    expect(sessionOutputs(feed(run, { _tag: "ConfigChanged", sources: sources(l2Docs), nowMs: 6 }))).toEqual([{ _tag: "DeleteSessionState", peer: "tor" }])
  })

  it("the speaker's stop deletes its objects before Stopped (the shell waits for the writes handed over by then)", () => {
    const run = start({ nodeName: "n1" })
    ready(run, bgpDocs(), wan)
    const stopped = feed(run, { _tag: "Terminate", nowMs: 9 })
    const tags = stopped.map((o) => o._tag)
    expect(tags.indexOf("DeleteSessionState")).toBeGreaterThan(tags.indexOf("CloseSession"))
    expect(tags.indexOf("DeleteSessionState")).toBeLessThan(tags.indexOf("Stopped"))
  })

  it("a previous pod's objects are kept until the node decides its sessions, then rewritten or deleted; a failed write waits for the next input", () => {
    const run = start({ nodeName: "n1" })
    expect(sessionOutputs(feed(run, { _tag: "Started", nowMs: 0 }, { _tag: "SessionStatesFound", peers: ["tor", "gone"], nowMs: 0 }))).toEqual([])
    const decided = sessionOutputs(feed(run,
      { _tag: "ConfigChanged", sources: sources(bgpDocs()), nowMs: 1 },
      { _tag: "ClusterChanged", snapshot: wan, nowMs: 1 }))
    expect(decided.map((o) => [o._tag, o.peer])).toEqual([["WriteSessionState", "tor"], ["DeleteSessionState", "gone"]])
    expect(sessionOutputs(feed(run, { _tag: "SessionStateWriteFailed", peer: "tor", nowMs: 2 }))).toEqual([])
    expect(sessionOutputs(feed(run, { _tag: "TimerFired", name: "resync", nowMs: 3 })).map((o) => o._tag)).toEqual(["WriteSessionState"])
  })

  it("names the neighbour as frr-k8s does: IPv4 as is, IPv6 expanded with '-', an unnumbered peer by its interface", () => {
    const peer = { name: "p", vrf: "" } as const
    expect(sessionPeerId({ ...peer, address: { family: "ipv4", value: 0xc6336401n } } as never)).toBe("198.51.100.1")
    expect(sessionPeerId({ ...peer, address: { family: "ipv6", value: 0x20010db8000000000000000000000001n } } as never)).toBe("2001-0db8-0000-0000-0000-0000-0000-0001")
    expect(sessionPeerId({ ...peer, interface: "eth1" } as never)).toBe("eth1")
  })
})

describe("speaker node machine: BGPSessionState (property)", () => {
  const states: ReadonlyArray<SessionStateName> = ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"]
  const configs = [bgpDocs(), bgpDocs({ holdTime: "30s" }), [...bgpDocs({ bfdProfile: "fast" }), bfdProfile], l2Docs]
  type Timeless = NodeInput extends infer I ? (I extends { nowMs: number } ? Omit<I, "nowMs"> : never) : never
  const input: fc.Arbitrary<Timeless> = fc.oneof(
    fc.tuple(fc.constantFrom("tor", "other"), fc.constantFrom(...states), fc.constantFrom<BfdState | undefined>(undefined, "Down", "Init", "Up", "AdminDown"))
      .map(([peer, bgp, bfd]) => ({ _tag: "SessionStateChanged", peer, bgp, bfd }) as const),
    fc.constantFrom(...configs).map((documents) => ({ _tag: "ConfigChanged", sources: sources(documents) }) as const),
    fc.constant({ _tag: "SessionFailed", peer: "tor", reason: "EPERM" } as const),
    fc.constant({ _tag: "SessionStatesFound", peers: ["tor", "stale"] } as const),
    fc.constant({ _tag: "SessionStateWriteFailed", peer: "tor" } as const),
    fc.constant({ _tag: "TimerFired", name: "resync" } as const),
    fc.constant({ _tag: "ClusterChanged", snapshot: wan } as const),
  )

  it("the API holds exactly one object per open session saying its last reported states and since when; writes only on change; none after the stop", () => {
    fc.assert(fc.property(fc.array(input, { maxLength: 40 }), (inputs) => {
      const run: Run = start({ nodeName: "n1" })
      /** What the API holds: peer -> the object's content ("?" a write of it failed: stale). */
      const api = new Map<string, string>()
      /** The open sessions, what their driver last reported, and since when the BGP state holds. */
      const open = new Map<string, { bgp: string; bfd: string; since: number }>()
      const execute = (out: ReadonlyArray<NodeOutput>, nowMs: number) => {
        for (const o of out) {
          if (o._tag === "OpenSession") open.set(o.name, { bgp: "Idle", bfd: o.spec.bfdProfile === undefined ? "N/A" : "down", since: nowMs })
          if (o._tag === "CloseSession") open.delete(o.name)
          if (o._tag === "WriteSessionState") {
            const text = JSON.stringify({ status: o.status, since: o.sinceMs })
            // Only on change: never the very content the API already holds.
            expect(api.get(o.peer), `rewrite of ${o.peer}`).not.toBe(text)
            api.set(o.peer, text)
          }
          if (o._tag === "DeleteSessionState") {
            expect(api.has(o.peer), `delete of ${o.peer}, never written`).toBe(true)
            api.delete(o.peer)
          }
        }
      }
      execute(ready(run, configs[0]!, wan), 0)
      inputs.forEach((i, n) => {
        const nowMs = n + 1
        if (i._tag === "SessionFailed") open.delete(i.peer)
        if (i._tag === "SessionStatesFound") for (const p of i.peers) if (!api.has(p)) api.set(p, "?")
        // The write may have left anything there, or nothing.
        if (i._tag === "SessionStateWriteFailed") api.set(i.peer, "?")
        if (i._tag === "SessionStateChanged" && open.has(i.peer)) {
          const entry = open.get(i.peer)!
          open.set(i.peer, { bgp: i.bgp, bfd: entry.bfd === "N/A" ? "N/A" : bfdStatusText(i.bfd ?? "Down"), since: i.bgp === entry.bgp ? entry.since : nowMs })
        }
        execute(feed(run, { ...i, nowMs } as NodeInput), nowMs)
        // A failed write is written again at the next input, not this one.
        if (i._tag === "SessionStateWriteFailed") return
        expect([...api.keys()].sort()).toEqual([...open.keys()].sort())
        for (const [peer, s] of open) {
          expect(JSON.parse(api.get(peer)!)).toEqual({ status: { bgpStatus: s.bgp, bfdStatus: s.bfd, node: "n1", peer: "198.51.100.1", vrf: "" }, since: s.since })
        }
      })
      execute(feed(run, { _tag: "Terminate", nowMs: 1000 }), 1000)
      expect(api.size).toBe(0)
    }), { numRuns: 300 })
  })
})
