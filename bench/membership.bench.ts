// The membership profiles' trade (issue 17): the speaker's SWIM machines (core/election/membership) driven
// directly on the simulated LAN of the membership tests (spec/core/election/membership/simulator.ts:
// virtual clock, 0.1-2 ms delay, no loss; every datagram encoded and decoded), no simulator world and no
// sockets. For each profile (`--memberlist-profile`: fast, steady, memberlist-lan):
//   detection: a node crashes in a converged cluster at a random moment of its protocol period; the time
//     until every other node declared it dead, median and worst over seeds;
//   traffic and CPU: datagrams (and pings) each node sends per second in a quiet cluster, and the CPU of
//     one node's machine and codec: that node's inputs over a 60 s window recorded, then replayed in
//     process (decode each datagram, step, encode each datagram it sends; with the memberlist key also
//     AES-GCM open and seal, as the speaker does) and timed as CPU seconds, so the figure holds on a loaded
//     machine; as % of a core at 3, 10 and 100 nodes;
//   starvation: one node's processing stalls (a pass or a starved CPU: its datagrams and its timer wait)
//     and resumes with what waited, its late timer first (Node runs expired timers before it reads
//     sockets), as the speaker's event loop would; the longest stall with no false suspicion anywhere, and
//     the false suspicions and deaths (a death moves addresses) at stalls of 100 ms, 250 ms, 500 ms and 1 s;
//     and a loaded machine: every node stalled again and again (50, 100, 200 ms at a time, a fifth of the
//     time) for 30 s, false deaths and suspicions.
import { Result } from "effect"
import { decodeMessage, encodeMessage } from "../core/election/membership/codec.ts"
import { type MembershipConfig, membershipProfiles, suspicionTimeoutMs } from "../core/election/membership/config.ts"
import { type MembershipInput, type MembershipState, step } from "../core/election/membership/node.ts"
import { membershipKey, open, seal } from "../shell/speaker/membership.ts"
import { drawFrom } from "../core/election/membership/random.ts"
import { nodeName, Sim } from "../spec/core/election/membership/simulator.ts"
import { printTarget } from "./harness.ts"

/**
 * Proposed between the two: probes every 200 ms with a 100 ms timeout (a stall or a slow answer of up
 * to ~100 ms is no missed probe), suspicion 3 periods (600 ms at up to 10 nodes), gossip every 100 ms.
 */

const profiles: ReadonlyArray<readonly [string, MembershipConfig]> = [
  ["fast", membershipProfiles.fast],
  ["steady", membershipProfiles.steady],
  ["memberlist-lan", membershipProfiles["memberlist-lan"]],
]

const seeds = Number(process.env["METALLB_TS_BENCH_MEMBERSHIP_SEEDS"] ?? 20)
const detectionSizes = [3, 10, 100] as const
const stallNodes = 10
const cpuSizes = [3, 10, 100] as const
const cpuWindowMs = 60_000
const stalls = [100, 250, 500, 1_000] as const
/** Every node stalled again and again, each stall this long, a fifth of the time on average (a loaded machine). */
const repeatedStalls = [50, 100, 200] as const
const repeatedWindowMs = 30_000
const idleTargetPercent = 1

interface Pending {
  readonly input: MembershipInput
  readonly reply: boolean
}

/** The test simulator, with stalls (a node's inputs held, then delivered late) and a record of one node's inputs. */
class StallSim extends Sim {
  private readonly stalled = new Map<string, Array<Pending>>()
  recording: { readonly name: string; readonly inputs: Array<MembershipInput> } | undefined

  /** Holds `name`'s inputs for `durationMs` (a node already stalled stays so until its current stall ends). */
  stall(name: string, durationMs: number): void {
    if (this.stalled.has(name)) return
    const pending: Array<Pending> = []
    this.stalled.set(name, pending)
    this.at(this.nowMs + durationMs, () => {
      this.stalled.delete(name)
      // The timer that fired during the stall runs first, then the datagrams in the order they came.
      const ordered = [...pending.filter((p) => p.input._tag === "Tick"), ...pending.filter((p) => p.input._tag !== "Tick")]
      for (const p of ordered) this.input(name, { ...p.input, nowMs: this.nowMs }, p.reply)
    })
  }

  override input(name: string, input: MembershipInput, reply = false): void {
    const pending = this.stalled.get(name)
    if (pending !== undefined) {
      pending.push({ input, reply })
      return
    }
    if (this.recording?.name === name && this.nodes.get(name)?.up === true) this.recording.inputs.push(input)
    super.input(name, input, reply)
  }
}

/** A cluster of `size` converged (each node a live member of every other), then run to a random moment of its period. */
const converged = (size: number, seed: number, config: MembershipConfig): StallSim => {
  const sim = new StallSim({ size, seed, lossRate: 0, minDelayMs: 0.1, maxDelayMs: 2, config })
  sim.bootstrap(50)
  const settleMs = 20 * config.probeIntervalMs + 2_000
  if (!sim.run(settleMs, () => sim.nowMs > 3 * config.probeIntervalMs && sim.converged())) throw new Error(`membership bench: ${size} nodes (seed ${seed}) did not converge in ${settleMs} ms`)
  sim.run(sim.nowMs + 1 + (Math.abs(seed * 7919) % config.probeIntervalMs))
  return sim
}

const median = (values: ReadonlyArray<number>): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN

/** Crash to dead on every other node, ms, per seed. */
const detectionTimes = (config: MembershipConfig, size: number): Array<number> =>
  Array.from({ length: seeds }, (_, seed) => {
    const sim = converged(size, seed + 1, config)
    const victim = nodeName(1 + (seed % (size - 1)))
    const crashAtMs = sim.nowMs
    sim.crash(victim)
    const others = sim.names.filter((n) => n !== victim)
    const limitMs = crashAtMs + 20 * (config.probeIntervalMs + suspicionTimeoutMs(config, size))
    if (!sim.run(limitMs, () => others.every((n) => sim.state(n).members.get(victim)?.status === "dead"))) return Number.POSITIVE_INFINITY
    return sim.nowMs - crashAtMs
  })

interface Traffic {
  readonly datagramsPerSecond: number
  readonly pingsPerSecond: number
  /** CPU of one node's machine and codec, % of a core; with the memberlist key (AES-GCM) too. */
  readonly cpuPercent: number
  readonly cpuKeyedPercent: number
}

/** CPU seconds of `f`, after one warm-up run (compilation), repeated until at least 0.5 s were spent, per repetition. */
const cpuSecondsOf = (f: () => void): number => {
  f()
  const from = process.cpuUsage()
  let runs = 0
  let used = 0
  do {
    f()
    runs += 1
    const u = process.cpuUsage(from)
    used = (u.user + u.system) / 1e6
  } while (used < 0.5)
  return used / runs
}

const key = membershipKey(new TextEncoder().encode("bench-membership-key"))

/** One node's recorded inputs replayed from its recorded state: decode, step, encode (and open/seal with a key). */
const replay = (start: MembershipState, inputs: ReadonlyArray<MembershipInput>, keyed: boolean): (() => void) => {
  const wire = inputs.map((input) => (input._tag === "Received" ? (keyed ? seal(key, encodeMessage(input.message)) : encodeMessage(input.message)) : undefined))
  return () => {
    let state = start
    for (let i = 0; i < inputs.length; i++) {
      let input = inputs[i]!
      const bytes = wire[i]
      if (input._tag === "Received" && bytes !== undefined) {
        const plain = keyed ? open(key, bytes) : bytes
        const decoded = plain === undefined ? undefined : decodeMessage(plain)
        if (decoded === undefined || Result.isFailure(decoded)) throw new Error("membership bench: a recorded datagram did not decode")
        input = { ...input, message: decoded.success }
      }
      const next = step(state, input)
      state = next.state
      for (const out of next.outputs) if (out._tag === "Send") keyed ? seal(key, encodeMessage(out.message)) : encodeMessage(out.message)
    }
  }
}

const traffic = (size: number, config: MembershipConfig): Traffic => {
  const sim = converged(size, 4242 + size, config)
  const measured = nodeName(1)
  const from = sim.nowMs
  const sentFrom = sim.sent.length
  const start = sim.state(measured)
  sim.recording = { name: measured, inputs: [] }
  sim.run(from + cpuWindowMs)
  const inputs = sim.recording.inputs
  sim.recording = undefined
  const sent = sim.sent.slice(sentFrom)
  const seconds = cpuWindowMs / 1000
  return {
    datagramsPerSecond: sent.length / size / seconds,
    pingsPerSecond: sent.filter((s) => s.tag === "Ping").length / size / seconds,
    cpuPercent: (cpuSecondsOf(replay(start, inputs, false)) / seconds) * 100,
    cpuKeyedPercent: (cpuSecondsOf(replay(start, inputs, true)) / seconds) * 100,
  }
}

interface StallOutcome {
  /** Suspicions of the stalled node by others, and of others by the stalled node. */
  readonly ofStalled: number
  readonly byStalled: number
  /** Deaths declared (each would move addresses). */
  readonly deaths: number
}

const stallOnce = (config: MembershipConfig, seed: number, stallMs: number): StallOutcome => {
  const sim = converged(stallNodes, 1000 + seed, config)
  const stalled = nodeName(1 + (seed % (stallNodes - 1)))
  const fromEvent = sim.events.length
  sim.stall(stalled, stallMs)
  sim.run(sim.nowMs + stallMs + 3 * (config.probeIntervalMs + suspicionTimeoutMs(config, stallNodes)) + 1_000)
  const events = sim.events.slice(fromEvent)
  const suspicions = events.filter((e) => e.event._tag === "MemberSuspect")
  return {
    ofStalled: suspicions.filter((e) => e.event.name === stalled).length,
    byStalled: suspicions.filter((e) => e.node === stalled).length,
    deaths: events.filter((e) => e.event._tag === "MemberDead").length,
  }
}

const stallOutcome = (config: MembershipConfig, stallMs: number): StallOutcome => {
  let [ofStalled, byStalled, deaths] = [0, 0, 0]
  for (let seed = 0; seed < seeds; seed++) {
    const o = stallOnce(config, seed, stallMs)
    ofStalled += o.ofStalled
    byStalled += o.byStalled
    deaths += o.deaths
  }
  return { ofStalled, byStalled, deaths }
}

/**
 * Every node of a converged cluster stalls for `stallMs` again and again for 30 s, at random moments, a
 * fifth of the time on average (gaps uniform in 0-8 stalls): a machine whose CPU the speakers share with
 * much else. False deaths and suspicions over the seeds.
 */
const repeatedStallOutcome = (config: MembershipConfig, stallMs: number): { readonly suspicions: number; readonly deaths: number } => {
  let [suspicions, deaths] = [0, 0]
  for (let seed = 0; seed < seeds; seed++) {
    const sim = converged(stallNodes, 2000 + seed, config)
    const draw = drawFrom(seed + 1)
    const startMs = sim.nowMs
    const fromEvent = sim.events.length
    for (const name of sim.names) {
      for (let atMs = startMs + draw() * 5 * stallMs; atMs < startMs + repeatedWindowMs; atMs += stallMs + draw() * 8 * stallMs) {
        sim.at(atMs, () => sim.stall(name, stallMs))
      }
    }
    sim.run(startMs + repeatedWindowMs + stallMs + 3 * (config.probeIntervalMs + suspicionTimeoutMs(config, stallNodes)) + 1_000)
    const events = sim.events.slice(fromEvent)
    suspicions += events.filter((e) => e.event._tag === "MemberSuspect").length
    deaths += events.filter((e) => e.event._tag === "MemberDead").length
  }
  return { suspicions, deaths }
}

/**
 * The longest stall (in `stepMs` steps) such that it and every shorter one caused no suspicion (or, with
 * `deathsOnly`, no death) over the seeds.
 */
const longestToleratedStall = (config: MembershipConfig, stepMs: number, fromMs: number, deathsOnly: boolean): number => {
  let tolerated = fromMs
  for (let stallMs = fromMs + stepMs; stallMs <= 20_000; stallMs += stepMs) {
    const o = stallOutcome(config, stallMs)
    if (o.deaths > 0 || (!deathsOnly && o.ofStalled + o.byStalled > 0)) return tolerated
    tolerated = stallMs
  }
  return tolerated
}

const fmt = (ms: number) => (Number.isFinite(ms) ? `${Math.round(ms)} ms` : "never")

export const run = (): void => {
  console.log(`\nMembership profiles (issue 17): simulated LAN, no loss, ${seeds} seeds per figure; stalls at ${stallNodes} nodes`)
  for (const [name, config] of profiles) {
    console.log(`\n  profile ${name}: probe every ${config.probeIntervalMs} ms, timeout ${config.probeTimeoutMs} ms, suspicion ${suspicionTimeoutMs(config, 10)} ms at 10 nodes (${suspicionTimeoutMs(config, 100)} at 100), gossip every ${config.gossipIntervalMs} ms`)
    for (const size of detectionSizes) {
      const detection = detectionTimes(config, size)
      console.log(`    ${String(size).padStart(3)} nodes: a dead node known everywhere in median ${fmt(median(detection))}, worst ${fmt(Math.max(...detection))}`)
    }
    for (const size of cpuSizes) {
      const t = traffic(size, config)
      console.log(`    ${String(size).padStart(3)} nodes: ${t.datagramsPerSecond.toFixed(1)} datagrams/s per node (${t.pingsPerSecond.toFixed(1)} pings), machine + codec ${t.cpuPercent.toFixed(3)}% of a core, with the key (AES-GCM) ${t.cpuKeyedPercent.toFixed(3)}%`)
      if (name === "fast") printTarget(`idle membership CPU, fast profile, ${size} nodes, key on`, t.cpuKeyedPercent, "% core", idleTargetPercent, "machine, codec, AES-GCM; no syscalls")
    }
    const stepMs = Math.max(10, Math.round(config.probeIntervalMs / 8))
    const noSuspicion = longestToleratedStall(config, stepMs, 0, false)
    const noDeath = longestToleratedStall(config, stepMs, noSuspicion, true)
    console.log(`    longest stall of one node with no false suspicion: ${noSuspicion} ms; with no false death: ${noDeath} ms (steps of ${stepMs} ms, ${seeds} seeds each)`)
    for (const stallMs of stalls) {
      const o = stallOutcome(config, stallMs)
      console.log(`    stall ${String(stallMs).padStart(4)} ms: ${o.ofStalled} suspicions of the stalled node by the others, ${o.byStalled} of others by it, ${o.deaths} false deaths (${seeds} runs of ${stallNodes} nodes)`)
    }
    for (const stallMs of repeatedStalls) {
      const o = repeatedStallOutcome(config, stallMs)
      console.log(`    every node stalled ${String(stallMs).padStart(3)} ms at a time, 20% of the time: ${(o.deaths / seeds).toFixed(1)} false deaths and ${(o.suspicions / seeds).toFixed(1)} suspicions per ${repeatedWindowMs / 1000} s (${seeds} runs of ${stallNodes} nodes)`)
    }
  }
  console.log(`
  Which profile: fast where the speakers get their CPU: failover in under half a second, and short stalls
  (even every node held up 100 ms at a time, a fifth of the time) move nothing; but one speaker held up
  longer than ~the figure above is declared dead and its addresses move (and move back). memberlist-lan
  where nodes are overcommitted or pause for a second or more, or to fail over as MetalLB does (seconds).
  A held-up node answers nobody, which no timer elsewhere can tell from a crash: the stall a profile
  forgives is bounded by its detection time.`)
}
