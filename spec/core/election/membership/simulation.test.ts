// The membership protocol on a simulated LAN (virtual clock, seeded loss and 0.1-2 ms delay), 3 to 20
// nodes that join through node 0 and must converge before each scenario starts.
// Each property runs hundreds of simulated clusters (40 s on a loaded 2-core machine): a 300 s ceiling.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { defaultMembershipConfig as config, type MembershipConfig, memberlistLanConfig, steadyMembershipConfig, suspicionTimeoutMs } from "../../../../core/election/membership/config.ts"
import { downInterfacesOf } from "../../../../core/election/membership/node.ts"
import { nodeName, Sim } from "./simulator.ts"

const minDelayMs = 0.1
const maxDelayMs = 2
const maxLossRate = 0.05

const started = (size: number, seed: number, lossRate: number): Sim => {
  const sim = new Sim({ size, seed, lossRate, minDelayMs, maxDelayMs })
  sim.bootstrap(50)
  const converged = sim.run(5_000, () => sim.nowMs > 60 && sim.converged())
  expect(converged).toBe(true)
  return sim
}

/** A converged cluster, `phaseMs` into its protocol periods. */
const startedAt = (size: number, seed: number, lossRate: number, phaseMs: number): Sim => {
  const sim = started(size, seed, lossRate)
  sim.run(sim.nowMs + phaseMs)
  return sim
}

const size = fc.integer({ min: 3, max: 20 })
const seed = fc.integer()
// Half the runs at the limit itself, where suspicions actually happen.
const lossRate = fc.oneof(fc.constant(maxLossRate), fc.double({ min: 0, max: maxLossRate, noNaN: true }))
const phaseMs = fc.integer({ min: 0, max: 199 })
const victim = fc.nat()

const deaths = (sim: Sim, name?: string) =>
  sim.events.filter((e) => e.event._tag === "MemberDead" && (name === undefined || e.event.name === name))

describe("membership on a simulated LAN", { timeout: 300_000 }, () => {
  it("declares a crashed node dead on every live node within 1 s (0% loss)", () => {
    let worstMs = 0
    let worstSize = 0
    fc.assert(
      fc.property(size, seed, phaseMs, victim, (n, s, phase, v) => {
        const sim = startedAt(n, s, 0, phase)
        const crashed = nodeName(1 + (v % (n - 1)))
        const crashAtMs = sim.nowMs
        sim.crash(crashed)
        const others = sim.names.filter((m) => m !== crashed)
        const detected = sim.run(crashAtMs + 1_000, () => others.every((m) => sim.state(m).members.get(crashed)?.status === "dead"))
        expect(detected).toBe(true)
        const tookMs = Math.max(...deaths(sim, crashed).map((e) => e.atMs)) - crashAtMs
        expect(tookMs).toBeLessThan(1_000)
        expect(deaths(sim).every((e) => e.event.name === crashed)).toBe(true)
        if (tookMs > worstMs) [worstMs, worstSize] = [tookMs, n]
      }),
      { numRuns: 200 },
    )
    console.log(`crash detected everywhere: worst ${worstMs.toFixed(1)} ms over 200 runs (at ${worstSize} nodes)`)
  })

  it("never declares a live node dead at up to 5% loss; every suspicion is refuted", () => {
    let suspicions = 0
    fc.assert(
      fc.property(size, seed, lossRate, (n, s, loss) => {
        const sim = started(n, s, loss)
        const from = sim.events.length
        sim.run(sim.nowMs + 10_000)
        expect(deaths(sim)).toEqual([])
        suspicions += sim.events.slice(from).filter((e) => e.event._tag === "MemberSuspect").length
        expect(sim.converged()).toBe(true)
      }),
      { numRuns: 200 },
    )
    console.log(`${suspicions} suspicions from message loss over 200 runs of 10 s, all refuted, no false death`)
  })

  it("a node cut off until it is suspected refutes and is never declared dead (up to 5% loss)", () => {
    fc.assert(
      fc.property(size, seed, lossRate, phaseMs, victim, (n, s, loss, phase, v) => {
        const sim = startedAt(n, s, loss, phase)
        const isolated = nodeName(1 + (v % (n - 1)))
        const cutAtMs = sim.nowMs
        sim.cutOff.add(isolated)
        const suspected = sim.run(cutAtMs + 5_000, () =>
          sim.events.some((e) => e.atMs >= cutAtMs && e.event._tag === "MemberSuspect" && e.event.name === isolated)
        )
        expect(suspected).toBe(true)
        sim.cutOff.delete(isolated)
        sim.run(sim.nowMs + 3_000)
        expect(deaths(sim, isolated)).toEqual([])
        expect(sim.state(isolated).incarnation).toBeGreaterThan(0)
        // Nodes the isolated one wrongly declared dead meanwhile (SWIM without Lifeguard) have refuted too.
        expect(sim.converged()).toBe(true)
      }),
      { numRuns: 200 },
    )
  })

  it("drops a node that leaves gracefully everywhere within one probe interval plus delivery (up to 5% loss)", () => {
    let worstMs = 0
    fc.assert(
      fc.property(size, seed, lossRate, phaseMs, victim, (n, s, loss, phase, v) => {
        const sim = startedAt(n, s, loss, phase)
        const leaving = nodeName(1 + (v % (n - 1)))
        const leftAtMs = sim.nowMs
        sim.leave(leaving)
        const others = sim.names.filter((m) => m !== leaving)
        const boundMs = config.probeIntervalMs + maxDelayMs
        const dropped = sim.run(leftAtMs + boundMs, () => others.every((m) => sim.state(m).members.get(leaving)?.status === "left"))
        expect(dropped).toBe(true)
        worstMs = Math.max(worstMs, sim.nowMs - leftAtMs)
        sim.run(sim.nowMs + 1_000)
        expect(deaths(sim)).toEqual([])
        expect(sim.events.filter((e) => e.event._tag === "MemberLeft").map((e) => e.node).sort()).toEqual(others.sort())
      }),
      { numRuns: 200 },
    )
    console.log(`graceful leave dropped everywhere: worst ${worstMs.toFixed(1)} ms over 200 runs`)
  })

  it("spreads a node's down interfaces, and their return, to every member within 250 ms (up to 5% loss)", () => {
    let worstMs = 0
    fc.assert(
      fc.property(size, seed, lossRate, phaseMs, victim, (n, s, loss, phase, v) => {
        const sim = startedAt(n, s, loss, phase)
        const changed = nodeName(v % n)
        const others = sim.names.filter((m) => m !== changed)
        const sees = (names: ReadonlyArray<string>) => () =>
          others.every((m) => JSON.stringify(downInterfacesOf(sim.state(m)).get(changed) ?? []) === JSON.stringify(names))
        for (const names of [["eth1"], ["eth1", "eth2"], []]) {
          const atMs = sim.nowMs
          sim.input(changed, { _tag: "SetDownInterfaces", nowMs: atMs, names })
          expect(sim.run(atMs + 250, sees(names))).toBe(true)
          worstMs = Math.max(worstMs, sim.nowMs - atMs)
          sim.run(sim.nowMs + 100)
        }
        // Only the node that changed says anything about down interfaces.
        for (const m of sim.names) expect([...downInterfacesOf(sim.state(m)).keys()]).toEqual([])
        expect(deaths(sim)).toEqual([])
      }),
      { numRuns: 200 },
    )
    console.log(`down interfaces known everywhere: worst ${worstMs.toFixed(1)} ms over 200 runs of 3 changes`)
  })

  it("spreads down interfaces to a member that every gossip copy missed (6 nodes at 5% loss, fast-check seed 821208144)", () => {
    // Gossip alone left node-4 without the change for 30 s (until the table exchange): the new Alive also
    // goes to every member directly now.
    const sim = startedAt(6, 880498085, 0.05, 0)
    const changed = nodeName(0)
    const others = sim.names.filter((m) => m !== changed)
    for (const names of [["eth1"], ["eth1", "eth2"], []]) {
      const atMs = sim.nowMs
      sim.input(changed, { _tag: "SetDownInterfaces", nowMs: atMs, names })
      expect(sim.run(atMs + 250, () => others.every((m) => JSON.stringify(downInterfacesOf(sim.state(m)).get(changed) ?? []) === JSON.stringify(names)))).toBe(true)
      sim.run(sim.nowMs + 100)
    }
  })

  it("sends a constant number of messages per node per probe interval, whatever the cluster size", () => {
    // Initiated: 1 Ping, k PingReqs, 1 suspicion notice, two gossip rounds, 1 Sync.
    const gossipRounds = Math.ceil(config.probeIntervalMs / config.gossipIntervalMs)
    const initiatedBound = 1 + config.indirectChecks + 1 + gossipRounds * config.gossipFanout + 1
    let worstMean = 0
    fc.assert(
      fc.property(size, seed, lossRate, (n, s, loss) => {
        const sim = started(n, s, loss)
        const fromMs = Math.ceil(sim.nowMs / config.probeIntervalMs) * config.probeIntervalMs
        const periods = 30
        const toMs = fromMs + periods * config.probeIntervalMs
        sim.run(toMs)
        const initiated = new Map<string, number>()
        let total = 0
        for (const m of sim.sent) {
          if (m.atMs < fromMs || m.atMs >= toMs) continue
          total++
          const window = `${m.from}/${Math.floor(m.atMs / config.probeIntervalMs)}`
          if (m.initiated) initiated.set(window, (initiated.get(window) ?? 0) + 1)
        }
        expect(Math.max(0, ...initiated.values())).toBeLessThanOrEqual(initiatedBound)
        // Answers (Acks, relays, Sync replies) follow what others initiate: about one Ack per period.
        const mean = total / n / periods
        expect(mean).toBeLessThanOrEqual(6)
        worstMean = Math.max(worstMean, mean)
      }),
      { numRuns: 200 },
    )
    console.log(`messages per node per probe interval: at most ${initiatedBound} initiated, worst mean ${worstMean.toFixed(2)} in total`)
  })
})

/**
 * A crashed node in clusters of 3 to 5 nodes with `profile`'s timings: declared dead by every live node no
 * sooner than the suspicion and within 8 probe periods after it (each member probes every other within n - 1
 * periods, round-robin, so the bound is firm up to 5 nodes; the rest is gossip). Returns the worst.
 */
const crashDetectionWorstMs = (profile: MembershipConfig, suspicionMs: number, convergeAfterMs: number): number => {
  expect(suspicionTimeoutMs(profile, 5)).toBe(suspicionMs)
  let worstMs = 0
  fc.assert(
    fc.property(fc.integer({ min: 3, max: 5 }), seed, (n, s) => {
      const sim = new Sim({ size: n, seed: s, lossRate: 0, minDelayMs, maxDelayMs, config: profile })
      sim.bootstrap(50)
      expect(sim.run(10_000, () => sim.nowMs > convergeAfterMs && sim.converged())).toBe(true)
      const crashed = nodeName(1)
      const crashAtMs = sim.nowMs
      sim.crash(crashed)
      const others = sim.names.filter((m) => m !== crashed)
      expect(sim.run(crashAtMs + 15_000, () => others.every((m) => sim.state(m).members.get(crashed)?.status === "dead"))).toBe(true)
      const firstMs = Math.min(...deaths(sim, crashed).map((e) => e.atMs)) - crashAtMs
      const lastMs = Math.max(...deaths(sim, crashed).map((e) => e.atMs)) - crashAtMs
      expect(firstMs).toBeGreaterThanOrEqual(suspicionMs)
      expect(lastMs).toBeLessThan(suspicionMs + 8 * profile.probeIntervalMs)
      worstMs = Math.max(worstMs, lastMs)
    }),
    { numRuns: 100 },
  )
  return worstMs
}

describe("membership with memberlist's LAN timings (the failover bench's baseline)", { timeout: 300_000 }, () => {
  it("declares a crashed node dead no sooner than its 4 s suspicion and within a few probe periods after it", () => {
    const worstMs = crashDetectionWorstMs(memberlistLanConfig, 4_000, 1_000)
    console.log(`memberlist LAN timings: crash detected everywhere within ${worstMs.toFixed(0)} ms over 100 runs`)
  })
})

describe("membership with the steady profile (--memberlist-profile steady)", { timeout: 300_000 }, () => {
  it("declares a crashed node dead no sooner than its 600 ms suspicion and within a few probe periods after it", () => {
    const worstMs = crashDetectionWorstMs(steadyMembershipConfig, 600, 300)
    console.log(`steady profile: crash detected everywhere within ${worstMs.toFixed(0)} ms over 100 runs`)
  })
})

describe("membership after a network partition", { timeout: 300_000 }, () => {
  it("two sides that declared each other dead merge again within the reconnect interval of the heal", () => {
    let worstMs = 0
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 12 }), seed, fc.integer({ min: 2, max: 10 }), (n, s, cut) => {
        const sim = started(n, s, 0)
        const left = sim.names.slice(0, Math.min(cut, n - 2))
        const right = sim.names.filter((name) => !left.includes(name))
        sim.split([left, right])
        const deadAcross = () => left.every((a) => right.every((b) => sim.state(a).members.get(b)?.status === "dead" && sim.state(b).members.get(a)?.status === "dead"))
        expect(sim.run(sim.nowMs + 5_000, deadAcross)).toBe(true)
        // Each side is whole on its own: nothing but the reconnect makes them talk again.
        sim.run(sim.nowMs + 3_000)
        const healedAtMs = sim.nowMs
        sim.heal()
        expect(sim.run(healedAtMs + config.reconnectIntervalMs + 1_000, () => sim.converged())).toBe(true)
        worstMs = Math.max(worstMs, sim.nowMs - healedAtMs)
      }),
      { numRuns: 100 },
    )
    console.log(`partition healed: one membership again within ${worstMs.toFixed(0)} ms (reconnect every ${config.reconnectIntervalMs} ms)`)
  })
})
