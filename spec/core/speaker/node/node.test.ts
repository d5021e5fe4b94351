import { describe, expect, it } from "vitest"
import type { NodeOutput } from "../../../../core/speaker/node.ts"
import { bgpDocs, eth0, eth1, feed, invalidDocs, ips, l2Docs, l2Services, ready, service, snapshotOf, start, tags } from "./fixtures.ts"

/** A membership report; `syncedAtMs`: a member's full table arrived then (the join's exchange). */
const members = (live: ReadonlyArray<string>, nowMs: number, lost: ReadonlyArray<{ name: string; how: "dead" | "left"; lastHeardAtMs?: number }> = [], syncedAtMs?: number) =>
  ({ _tag: "MembersChanged" as const, live: new Set(live), down: new Map(), lost, nowMs, ...(syncedAtMs === undefined ? {} : { syncedAtMs }) })
const logs = (outputs: ReadonlyArray<NodeOutput>) => outputs.flatMap((o) => (o._tag === "Log" ? [o.message] : []))

describe("speaker node machine: Layer 2", () => {
  it("claims the addresses it wins on every usable interface, writes status and one event per service", () => {
    const run = start({ nodeName: "n1" })
    const out = ready(run, l2Docs, snapshotOf(l2Services(12)), [eth0, eth1])
    expect(run.state.phase).toBe("Running")
    const claims = out.filter((o) => o._tag === "Claim")
    expect(claims.length).toBeGreaterThan(0)
    for (const c of claims) expect(c.interfaces).toEqual(["eth0", "eth1"])
    const services = new Set(claims.map((c) => c.service))
    expect(out.filter((o) => o._tag === "Emit").map((o) => o.service).sort()).toEqual([...services].sort())
    expect(out.filter((o) => o._tag === "WriteStatus" && o.kind === "ServiceL2Status").length).toBe(services.size)
    // Nothing changed: nothing to say.
    expect(feed(run, { _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(12)), nowMs: 1 })).toEqual([])
  })

  it("never decides before the join settled: claims come with the first other member, or when the join times out", () => {
    const run = start({ nodeName: "n1", membership: true, seeds: ["n2"] })
    const out = ready(run, l2Docs, snapshotOf(l2Services(12)))
    expect(run.state.phase).toBe("Joining")
    expect(out).toContainEqual({ _tag: "StartTimer", name: "join", delayMs: 10_000 })
    expect(tags(out)).not.toContain("Claim")
    // A first partial view (one member's ping before any table) decides nothing.
    expect(tags(feed(run, members(["n1", "n2"], 40)))).not.toContain("Claim")
    expect(run.state.phase).toBe("Joining")
    const joined = feed(run, members(["n1", "n2", "n3"], 50, [], 50))
    expect(run.state.phase).toBe("Running")
    expect(tags(joined)).toContain("Claim")

    const alone = start({ nodeName: "n1", membership: true, seeds: ["n2"] })
    ready(alone, l2Docs, snapshotOf(l2Services(12)))
    const timedOut = feed(alone, { _tag: "TimerFired", name: "join", nowMs: 10_000 })
    expect(logs(timedOut).join()).toContain("deciding alone")
    // Alone, it wins everything.
    expect(ips(alone)).toHaveLength(12)
  })

  it("answers only on links that are up, and tells the others which are down", () => {
    const run = start({ nodeName: "n1", membership: true, seeds: [] })
    ready(run, l2Docs, snapshotOf(l2Services(4), ["n1"]), [eth0, eth1])
    expect([...run.answered.values()].every((a) => a.interfaces.size === 2)).toBe(true)
    const down = feed(run, { _tag: "LinksPolled", up: new Set(["eth0"]), nowMs: 100 })
    expect(down).toContainEqual({ _tag: "SetDownInterfaces", names: ["eth1"] })
    expect(tags(down).filter((t) => t === "Release")).toHaveLength(4)
    expect([...run.answered.values()].every((a) => [...a.interfaces].join() === "eth0")).toBe(true)
    const back = feed(run, { _tag: "LinksPolled", up: new Set(["eth0", "eth1"]), nowMs: 200 })
    expect(back).toContainEqual({ _tag: "SetDownInterfaces", names: [] })
    expect([...run.answered.values()].every((a) => a.interfaces.size === 2)).toBe(true)
  })

  it("takes an interface the poll did not read for what it was, not for down (the poll raced a rescan)", () => {
    const run = start({ nodeName: "n1", membership: true, seeds: [] })
    ready(run, l2Docs, snapshotOf(l2Services(4), ["n1"]), [eth0, eth1])
    // Read before the rescan told the poller of eth1: only eth0 was polled.
    const out = feed(run, { _tag: "LinksPolled", up: new Set(["eth0"]), polled: new Set(["eth0"]), nowMs: 100 })
    expect(out).toEqual([])
    feed(run, { _tag: "LinksPolled", up: new Set(), polled: new Set(), nowMs: 200 })
    expect([...run.answered.values()].every((a) => a.interfaces.size === 2)).toBe(true)
    // Once down, an unread interface stays down until read up.
    feed(run, { _tag: "LinksPolled", up: new Set(["eth0"]), polled: new Set(["eth0", "eth1"]), nowMs: 300 })
    feed(run, { _tag: "LinksPolled", up: new Set(["eth0"]), polled: new Set(["eth0"]), nowMs: 400 })
    expect([...run.answered.values()].every((a) => [...a.interfaces].join() === "eth0")).toBe(true)
  })

  it("leaves when every link is down and, rejoined, holds back until another member answers", () => {
    const run = start({ nodeName: "n1", membership: true, seeds: ["n2"] })
    ready(run, l2Docs, snapshotOf(l2Services(12)))
    feed(run, members(["n1", "n2"], 10, [], 10))
    expect(ips(run).length).toBeGreaterThan(0)
    const allDown = feed(run, { _tag: "LinksPolled", up: new Set(), nowMs: 1_000 })
    expect(tags(allDown)).toContain("LeaveMembership")
    expect(ips(run)).toEqual([])
    // Isolated, everybody else looks dead; the link comes back.
    feed(run, members(["n1"], 2_000))
    const back = feed(run, { _tag: "LinksPolled", up: new Set(["eth0"]), nowMs: 3_000 })
    expect(back).toContainEqual({ _tag: "JoinMembership", seeds: ["n2"] })
    expect(back).toContainEqual({ _tag: "StartTimer", name: "rejoinHold", delayMs: 3_100 })
    expect(ips(run)).toEqual([])
    feed(run, { _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(12)), nowMs: 4_000 })
    expect(ips(run)).toEqual([])
    // Another member answering is not enough: the rejoin's table exchange must have come back.
    feed(run, members(["n1", "n2"], 4_400, [], 10))
    expect(ips(run)).toEqual([])
    feed(run, members(["n1", "n2"], 4_500, [], 4_500))
    expect(ips(run).length).toBeGreaterThan(0)
    expect(ips(run).length).toBeLessThan(12)
  })

  it("rejoined with nobody answering, decides alone once the hold expired", () => {
    const run = start({ nodeName: "n1", membership: true, seeds: ["n2"] })
    ready(run, l2Docs, snapshotOf(l2Services(12)))
    feed(run, members(["n1", "n2"], 10, [], 10), { _tag: "LinksPolled", up: new Set(), nowMs: 1_000 }, members(["n1"], 2_000), { _tag: "LinksPolled", up: new Set(["eth0"]), nowMs: 3_000 })
    feed(run, { _tag: "TimerFired", name: "rejoinHold", nowMs: 6_100 })
    expect(ips(run)).toHaveLength(12)
  })

  it("times a takeover from the moment it last heard from the lost owner", () => {
    const services = l2Services(12)
    const run = start({ nodeName: "n1", membership: true, seeds: ["n2"] })
    ready(run, l2Docs, snapshotOf(services, ["n1", "n2"]))
    feed(run, members(["n1", "n2"], 10, [], 10))
    const before = ips(run).length
    const lost = feed(run, members(["n1"], 1_500, [{ name: "n2", how: "dead", lastHeardAtMs: 1_000 }]))
    expect(lost).toContainEqual({ _tag: "ObserveDetection", member: "n2", seconds: 0.5 })
    const takeovers = lost.filter((o) => o._tag === "ObserveTakeover")
    expect(takeovers.length).toBe(12 - before)
    for (const t of takeovers) expect(t).toMatchObject({ from: "n2", seconds: 0.5 })
    expect(ips(run)).toHaveLength(12)
  })

  it("rescans: a gone interface loses its addresses before its socket goes, a new one gets them", () => {
    const run = start({ nodeName: "n1" })
    ready(run, l2Docs, snapshotOf(l2Services(3), ["n1"]), [eth0, eth1])
    const gone = feed(run, { _tag: "InterfacesScanned", interfaces: [eth0], nowMs: 10_000 })
    const order = tags(gone).filter((t) => t !== "Log")
    expect(order.slice(0, order.indexOf("UseInterfaces"))).toEqual(["Release", "Release", "Release"])
    expect(gone.filter((o) => o._tag === "Release").every((o) => o._tag === "Release" && o.interfaces.join() === "eth1")).toBe(true)
    // Only taken down, an interface stays watched: a down link, not a gone interface.
    expect(feed(run, { _tag: "InterfacesScanned", interfaces: [{ ...eth0, up: false }], nowMs: 20_000 })).toEqual([])
    const added = feed(run, { _tag: "InterfacesScanned", interfaces: [eth0, eth1], nowMs: 30_000 })
    expect(tags(added).indexOf("UseInterfaces")).toBeLessThan(tags(added).indexOf("Claim"))
    expect([...run.answered.values()].every((a) => a.interfaces.size === 2)).toBe(true)
  })

  it("keeps the last valid configuration when an invalid one arrives, and says so once", () => {
    const run = start({ nodeName: "n1" })
    ready(run, l2Docs, snapshotOf(l2Services(4), ["n1"]))
    const owned = ips(run)
    const invalid = feed(run, { _tag: "ConfigChanged", sources: { documents: invalidDocs, secrets: [], namespace: "metallb-system" }, nowMs: 5 })
    expect(logs(invalid).join()).toContain("configuration invalid, keeping the last valid one")
    expect(invalid).toContainEqual({ _tag: "ConfigState", loaded: true, stale: true })
    expect(tags(invalid)).not.toContain("Release")
    expect(ips(run)).toEqual(owned)
    expect(feed(run, { _tag: "ConfigChanged", sources: { documents: invalidDocs, secrets: [], namespace: "metallb-system" }, nowMs: 6 })).toEqual([])
  })

  it("announces nothing before a configuration is valid", () => {
    const run = start({ nodeName: "n1" })
    const out = ready(run, invalidDocs, snapshotOf(l2Services(4), ["n1"]))
    expect(logs(out).join()).toContain("no valid configuration yet")
    expect(out).toContainEqual({ _tag: "ConfigState", loaded: false, stale: false })
    expect(ips(run)).toEqual([])
  })

  it("on SIGTERM leaves, goes silent, keeps answering, and after the hand-over releases everything", () => {
    const run = start({ nodeName: "n1", membership: true, seeds: [] })
    ready(run, [...l2Docs, ...bgpDocs()], snapshotOf([...l2Services(4), service("default/wan", ["203.0.113.5"])], ["n1"]))
    expect(ips(run)).toHaveLength(4)
    const term = feed(run, { _tag: "Terminate", nowMs: 100 })
    expect(tags(term)).toEqual(["Log", "LeaveMembership", "Silence", "StartTimer"])
    // Frozen while handing over: what it owns it keeps answering, it claims nothing new.
    expect(feed(run, { _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(8), ["n1"]), nowMs: 200 })).toEqual([])
    expect(ips(run)).toHaveLength(4)
    const end = feed(run, { _tag: "TimerFired", name: "handOver", nowMs: 2_100 })
    expect(ips(run)).toEqual([])
    expect(tags(end)).toContain("CloseSession")
    expect(end.filter((o) => o._tag === "DeleteStatus").map((o) => o._tag === "DeleteStatus" && o.kind).sort()).toEqual(["ServiceBGPStatus", ...Array(4).fill("ServiceL2Status")])
    expect(tags(end).at(-1)).toBe("Stopped")
    expect(feed(run, { _tag: "ClusterChanged", snapshot: snapshotOf(l2Services(4), ["n1"]), nowMs: 3_000 })).toEqual([])
  })

  it("writes a failed status again at the next pass", () => {
    const run = start({ nodeName: "n1" })
    ready(run, l2Docs, snapshotOf(l2Services(1), ["n1"]))
    feed(run, { _tag: "StatusWriteFailed", kind: "ServiceL2Status", service: "default/s0", nowMs: 1 })
    const retried = feed(run, { _tag: "TimerFired", name: "resync", nowMs: 10_000 })
    expect(retried.filter((o) => o._tag === "WriteStatus").map((o) => o._tag === "WriteStatus" && o.service)).toEqual(["default/s0"])
  })
})

describe("speaker node machine: BGP", () => {
  const wan = [service("default/wan", ["203.0.113.5"])]

  it("opens one session per selected peer with production settings, and gives it the routes", () => {
    const run = start({ nodeName: "n1" })
    const out = ready(run, bgpDocs(), snapshotOf(wan))
    const open = out.find((o) => o._tag === "OpenSession")
    expect(open?._tag === "OpenSession" && open.spec.session).toMatchObject({
      localAsn: 64500, peerAsn: 64501, connectRetryTimeSeconds: 120, backoff: { initialDelayMs: 1_000, maxDelayMs: 120_000 }, families: ["ipv4"],
      localBgpIdentifier: 0xc0000201,
    })
    expect(open?._tag === "OpenSession" && open.spec.ttl).toBe(1)
    const routes = out.find((o) => o._tag === "UpdateRoutes")
    expect(routes?._tag === "UpdateRoutes" && routes.routes.length).toBe(1)
    expect(out).toContainEqual({ _tag: "WriteStatus", kind: "ServiceBGPStatus", service: "default/wan", status: { peers: ["tor"] } })
  })

  it("restarts a session only when what it was opened with changed", () => {
    const run = start({ nodeName: "n1" })
    ready(run, bgpDocs(), snapshotOf(wan))
    const moreRoutes = feed(run, { _tag: "ClusterChanged", snapshot: snapshotOf([...wan, service("default/wan2", ["203.0.113.6"])]), nowMs: 1 })
    expect(tags(moreRoutes).filter((t) => t !== "WriteStatus" && t !== "Announced")).toEqual(["UpdateRoutes"])
    const sameConfigAgain = feed(run, { _tag: "ConfigChanged", sources: { documents: [...bgpDocs(), ...l2Docs], secrets: [], namespace: "metallb-system" }, nowMs: 2 })
    expect(tags(sameConfigAgain)).not.toContain("CloseSession")
    const holdChanged = feed(run, { _tag: "ConfigChanged", sources: { documents: bgpDocs({ holdTime: "30s" }), secrets: [], namespace: "metallb-system" }, nowMs: 3 })
    expect(tags(holdChanged).filter((t) => t.endsWith("Session"))).toEqual(["CloseSession", "OpenSession"])
  })

  it("says once why a peer cannot run here, and opens it again after a failure", () => {
    const run = start({ nodeName: "n1" })
    const noRouterId = ready(run, bgpDocs(), { ...snapshotOf(wan), nodes: [{ name: "n1", labels: {}, networkUnavailable: false }] })
    expect(logs(noRouterId).join()).toContain("an IPv4 router ID is needed")
    expect(tags(noRouterId)).not.toContain("OpenSession")
    expect(logs(feed(run, { _tag: "TimerFired", name: "resync", nowMs: 10_000 }))).toEqual([])
    const ok = start({ nodeName: "n1" })
    ready(ok, bgpDocs(), snapshotOf(wan))
    feed(ok, { _tag: "SessionFailed", peer: "tor", reason: "socket: EPERM", nowMs: 5 })
    expect(tags(feed(ok, { _tag: "TimerFired", name: "resync", nowMs: 10_000 }))).toContain("OpenSession")
  })
})
