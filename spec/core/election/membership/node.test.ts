import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { defaultMembershipConfig as config, suspicionTimeoutMs } from "../../../../core/election/membership/config.ts"
import { type Member, supersedes } from "../../../../core/election/membership/members.ts"
import type { Message, Update } from "../../../../core/election/membership/messages.ts"
import {
  downInterfacesOf,
  initialMembership,
  liveMembers,
  type MembershipInput,
  type MembershipOutput,
  type MembershipState,
  step,
} from "../../../../core/election/membership/node.ts"

const addr = (name: string) => `${name}:7946`
const alive = (name: string, incarnation = 0): Update => ({ _tag: "Alive", name, incarnation, address: addr(name) })

const init = (name: string): MembershipState => Result.getOrThrow(initialMembership({ name, address: addr(name) }))

/** Runs inputs in order, collecting every output. */
const run = (state: MembershipState, inputs: ReadonlyArray<MembershipInput>) => {
  const outputs: Array<MembershipOutput> = []
  let s = state
  for (const input of inputs) {
    const t = step(s, input)
    s = t.state
    outputs.push(...t.outputs)
  }
  return { state: s, outputs }
}

/** A node that joined at 0 and learnt `others` from a Sync reply. */
const knowing = (name: string, others: ReadonlyArray<string>): MembershipState =>
  run(init(name), [
    { _tag: "Join", nowMs: 0, seeds: [] },
    { _tag: "Received", nowMs: 0, from: addr(others[0]!), message: { _tag: "Sync", from: others[0]!, reply: true, members: others.map((o) => alive(o)) } },
  ]).state

/** Ticks at every wake-up the node asks for before `atMs`, then at `atMs`: a node never held up. */
const wakeUps = (state: MembershipState, atMs: number) => {
  const outputs: Array<MembershipOutput> = []
  let s = state
  for (;;) {
    const dueAtMs: number | undefined = s.timerAtMs
    const t = step(s, tick(dueAtMs !== undefined && dueAtMs < atMs ? dueAtMs : atMs))
    s = t.state
    outputs.push(...t.outputs)
    if (dueAtMs === undefined || dueAtMs >= atMs) return { state: s, outputs }
    if (s.timerAtMs === dueAtMs) throw new Error(`the node asked again for the wake-up at ${dueAtMs} it just had`)
  }
}

const received = (nowMs: number, from: string, message: Message): MembershipInput => ({ _tag: "Received", nowMs, from: addr(from), message })
const tick = (nowMs: number, random = 0): MembershipInput => ({ _tag: "Tick", nowMs, random })
const sends = (outputs: ReadonlyArray<MembershipOutput>) => outputs.flatMap((o) => (o._tag === "Send" ? [o] : []))
const firstGossip = (send: Extract<MembershipOutput, { _tag: "Send" }>): Update | undefined => {
  const m = send.message
  return m._tag === "Sync" ? m.members[0] : m.gossip[0]
}
const events = (outputs: ReadonlyArray<MembershipOutput>) =>
  outputs.filter((o) => o._tag === "MemberAlive" || o._tag === "MemberSuspect" || o._tag === "MemberDead" || o._tag === "MemberLeft")

describe("membership node (SWIM step function)", () => {
  it("rejects an unusable identity or configuration", () => {
    expect(Result.isFailure(initialMembership({ name: "", address: "x" }))).toBe(true)
    expect(Result.isFailure(initialMembership({ name: "n".repeat(256), address: "x" }))).toBe(true)
    expect(Result.isFailure(initialMembership({ name: "a", address: "x" }, { ...config, probeTimeoutMs: config.probeIntervalMs }))).toBe(true)
  })

  it("joins by sending its table to every seed but itself, and asks for a wake-up", () => {
    const { outputs } = run(init("a"), [{ _tag: "Join", nowMs: 5, seeds: [addr("b"), addr("a"), addr("b"), addr("c")] }])
    expect(sends(outputs)).toEqual([
      { _tag: "Send", to: addr("b"), message: { _tag: "Sync", from: "a", reply: false, members: [alive("a")] } },
      { _tag: "Send", to: addr("c"), message: { _tag: "Sync", from: "a", reply: false, members: [alive("a")] } },
    ])
    expect(outputs).toContainEqual({ _tag: "StartTimer", name: "membership", delayMs: 0 })
  })

  it("answers a Sync opening with its own table and reports the members it learns", () => {
    const b = run(init("b"), [{ _tag: "Join", nowMs: 0, seeds: [] }]).state
    const { state, outputs } = run(b, [received(3, "a", { _tag: "Sync", from: "a", reply: false, members: [alive("a"), alive("c", 4)] })])
    expect(events(outputs)).toEqual([{ _tag: "MemberAlive", name: "a" }, { _tag: "MemberAlive", name: "c" }])
    expect(sends(outputs)).toEqual([
      { _tag: "Send", to: addr("a"), message: { _tag: "Sync", from: "b", reply: true, members: [alive("b"), alive("a"), alive("c", 4)] } },
    ])
    expect([...liveMembers(state)].sort()).toEqual(["a", "b", "c"])
  })

  it("acks a Ping meant for it at the sender's address, and ignores one meant for another node", () => {
    const a = knowing("a", ["b"])
    const acked = sends(step(a, received(10, "b", { _tag: "Ping", seq: 42, from: "b", target: "a", gossip: [] })).outputs)
    expect(acked).toMatchObject([{ to: addr("b"), message: { _tag: "Ack", seq: 42, from: "a" } }])
    expect(sends(step(a, received(10, "b", { _tag: "Ping", seq: 42, from: "b", target: "z", gossip: [] })).outputs)).toEqual([])
  })

  it("probes, goes indirect after the timeout, suspects at the period's end and declares dead after the suspicion timeout", () => {
    const a = knowing("a", ["b", "c"])
    const probe = run(a, [tick(config.probeIntervalMs)])
    const ping = sends(probe.outputs).find((s) => s.message._tag === "Ping")!
    expect(ping.message).toMatchObject({ _tag: "Ping", from: "a" })
    const target = (ping.message as Extract<Message, { _tag: "Ping" }>).target
    const helper = target === "b" ? "c" : "b"
    const seq = (ping.message as Extract<Message, { _tag: "Ping" }>).seq

    const indirect = run(probe.state, [tick(config.probeIntervalMs + config.probeTimeoutMs)])
    expect(sends(indirect.outputs)).toMatchObject([
      { to: addr(helper), message: { _tag: "PingReq", seq, from: "a", target, targetAddress: addr(target) } },
    ])

    // Woken when it asks (gossip rounds) until the period's end: on time, so the verdicts are due at once.
    const end = wakeUps(indirect.state, 2 * config.probeIntervalMs)
    expect(events(end.outputs)).toEqual([{ _tag: "MemberSuspect", name: target }])
    // The suspect hears it at once, so that a live one can refute.
    expect(sends(end.outputs)).toContainEqual({
      _tag: "Send",
      to: addr(target),
      message: { _tag: "Gossip", from: "a", gossip: [{ _tag: "Suspect", name: target, incarnation: 0 }] },
    })
    expect(end.state.members.get(target)?.suspicionDeadlineMs).toBe(2 * config.probeIntervalMs + suspicionTimeoutMs(config, 3))

    const deadline = 2 * config.probeIntervalMs + suspicionTimeoutMs(config, 3)
    const before = run(end.state, [tick(deadline - 1)])
    expect(events(before.outputs).filter((e) => e.name === target && e._tag === "MemberDead")).toEqual([])
    const after = run(before.state, [tick(deadline)])
    expect(events(after.outputs)).toContainEqual({ _tag: "MemberDead", name: target })
    expect(liveMembers(after.state).has(target)).toBe(false)
  })

  it("an Ack in time cancels the indirect probe and the suspicion", () => {
    const a = knowing("a", ["b", "c"])
    const probe = run(a, [tick(config.probeIntervalMs)])
    const ping = sends(probe.outputs).find((s) => s.message._tag === "Ping")!.message as Extract<Message, { _tag: "Ping" }>
    const { outputs } = run(probe.state, [
      received(config.probeIntervalMs + 1, ping.target, { _tag: "Ack", seq: ping.seq, from: ping.target, gossip: [] }),
      tick(config.probeIntervalMs + config.probeTimeoutMs),
      tick(2 * config.probeIntervalMs),
    ])
    expect(sends(outputs).filter((s) => s.message._tag === "PingReq")).toEqual([])
    expect(events(outputs)).toEqual([])
  })

  it("woken late (its process held up), reads what waited before it judges: a waiting Ack spares the target", () => {
    const probe = wakeUps(knowing("a", ["b", "c"]), config.probeIntervalMs)
    const ping = sends(probe.outputs).find((s) => s.message._tag === "Ping")!.message as Extract<Message, { _tag: "Ping" }>
    // Held up from just after the Ping until 300 ms: the wake-up asked for at the probe's timeout comes then.
    const heldMs = 300
    const late = step(probe.state, tick(heldMs))
    expect(events(late.outputs)).toEqual([])
    expect(sends(late.outputs)).toEqual([])
    expect(late.outputs).toContainEqual({ _tag: "StartTimer", name: "membership", delayMs: 0 })
    const ack = received(heldMs, ping.target, { _tag: "Ack", seq: ping.seq, from: ping.target, gossip: [] })
    const spared = run(late.state, [ack, tick(heldMs)])
    expect(events(spared.outputs)).toEqual([])
    expect(sends(spared.outputs).filter((s) => s.message._tag === "PingReq")).toEqual([])
    // With no Ack waiting, the wake-up that follows judges as before: the target is suspected.
    const judged = run(late.state, [tick(heldMs)])
    expect(events(judged.outputs)).toEqual([{ _tag: "MemberSuspect", name: ping.target }])
  })

  it("woken late, reads a waiting refutation before a suspicion expires: no death of a live member", () => {
    const a = knowing("a", ["b", "c"])
    const suspected = run(a, [received(10, "c", { _tag: "Gossip", from: "c", gossip: [{ _tag: "Suspect", name: "b", incarnation: 0 }] })])
    expect(events(suspected.outputs)).toEqual([{ _tag: "MemberSuspect", name: "b" }])
    const deadline = suspected.state.members.get("b")?.suspicionDeadlineMs
    expect(deadline).toBeDefined()
    // Held up from 10 ms until past the deadline; b's refutation came meanwhile and waits.
    const heldMs = deadline! + 200
    const late = step(suspected.state, tick(heldMs))
    expect(events(late.outputs)).toEqual([])
    const refuted = run(late.state, [received(heldMs, "b", { _tag: "Gossip", from: "b", gossip: [alive("b", 1)] }), tick(heldMs)])
    expect(events(refuted.outputs).filter((e) => e._tag === "MemberDead")).toEqual([])
    expect(liveMembers(refuted.state).has("b")).toBe(true)
    // Without the refutation, the next wake-up declares b dead.
    expect(events(run(late.state, [tick(heldMs)]).outputs)).toContainEqual({ _tag: "MemberDead", name: "b" })
  })

  it("pings on a requester's behalf and relays the Ack under the requester's sequence number", () => {
    const c = knowing("c", ["a", "b"])
    const asked = step(c, received(10, "a", { _tag: "PingReq", seq: 7, from: "a", target: "b", targetAddress: addr("b"), gossip: [] }))
    const [ping] = sends(asked.outputs)
    expect(ping).toMatchObject({ to: addr("b"), message: { _tag: "Ping", from: "c", target: "b" } })
    const seq = (ping!.message as Extract<Message, { _tag: "Ping" }>).seq
    const relayed = step(asked.state, received(11, "b", { _tag: "Ack", seq, from: "b", gossip: [] }))
    expect(sends(relayed.outputs)).toMatchObject([{ to: addr("a"), message: { _tag: "Ack", seq: 7, from: "c" } }])
    // A second Ack finds no relay left.
    expect(sends(step(relayed.state, received(12, "b", { _tag: "Ack", seq, from: "b", gossip: [] })).outputs)).toEqual([])
  })

  it("refutes a suspicion about itself with a higher incarnation, answering the accuser at once", () => {
    const a = knowing("a", ["b"])
    const { state, outputs } = run(a, [received(10, "b", { _tag: "Gossip", from: "b", gossip: [{ _tag: "Suspect", name: "a", incarnation: 0 }] })])
    expect(state.incarnation).toBe(1)
    expect(sends(outputs)).toMatchObject([{ to: addr("b"), message: { _tag: "Gossip" } }])
    expect(firstGossip(sends(outputs)[0]!)).toEqual(alive("a", 1))
    // The same stale accusation again: no new incarnation, but the accuser is told the current one.
    const again = run(state, [received(11, "b", { _tag: "Ping", seq: 3, from: "b", target: "a", gossip: [{ _tag: "Suspect", name: "a", incarnation: 0 }] })])
    expect(again.state.incarnation).toBe(1)
    expect(sends(again.outputs)).toMatchObject([{ message: { _tag: "Ack", seq: 3 } }])
    expect(firstGossip(sends(again.outputs)[0]!)).toEqual(alive("a", 1))
  })

  it("answers a sender spreading news older than its own with the newer statement", () => {
    const a = run(knowing("a", ["b", "c"]), [received(1, "b", { _tag: "Gossip", from: "b", gossip: [alive("b", 2)] })]).state
    const { outputs } = run(a, [received(5, "c", { _tag: "Gossip", from: "c", gossip: [{ _tag: "Suspect", name: "b", incarnation: 1 }] })])
    expect(events(outputs)).toEqual([])
    expect(sends(outputs)).toMatchObject([{ to: addr("c"), message: { _tag: "Gossip" } }])
    expect(firstGossip(sends(outputs)[0]!)).toEqual(alive("b", 2))
  })

  it("exchanges tables with a prober it does not know, and tells a prober it holds dead", () => {
    const a = knowing("a", ["b"])
    const stranger = sends(step(a, received(5, "z", { _tag: "Ping", seq: 1, from: "z", target: "a", gossip: [] })).outputs)
    expect(stranger.map((s) => s.message._tag)).toEqual(["Ack", "Sync"])
    const holdsDead = run(a, [received(5, "c", { _tag: "Gossip", from: "c", gossip: [{ _tag: "Dead", name: "b", incarnation: 0 }] })]).state
    const ack = sends(step(holdsDead, received(6, "b", { _tag: "Ping", seq: 2, from: "b", target: "a", gossip: [] })).outputs)[0]
    expect(ack?.message._tag).toBe("Ack")
    expect(firstGossip(ack!)).toEqual({ _tag: "Dead", name: "b", incarnation: 0 })
  })

  it("takes a Dead in a full table as a suspicion only (the table may be stale)", () => {
    const a = knowing("a", ["b"])
    const { state, outputs } = run(a, [
      received(5, "c", { _tag: "Sync", from: "c", reply: true, members: [alive("c"), { _tag: "Dead", name: "b", incarnation: 0 }] }),
    ])
    expect(events(outputs)).toEqual([{ _tag: "MemberAlive", name: "c" }, { _tag: "MemberSuspect", name: "b" }])
    expect(state.members.get("b")?.status).toBe("suspect")
  })

  it("leaves by telling every live member twice, with a raised incarnation, then falls silent", () => {
    const a = knowing("a", ["b", "c"])
    const { state, outputs } = run(a, [{ _tag: "Leave", nowMs: 50 }])
    const left = { _tag: "Gossip", from: "a", gossip: [{ _tag: "Left", name: "a", incarnation: 1 }] }
    expect(sends(outputs).map((s) => [s.to, s.message])).toEqual([
      [addr("b"), left],
      [addr("c"), left],
      [addr("b"), left],
      [addr("c"), left],
    ])
    expect(outputs).toContainEqual({ _tag: "StopTimer", name: "membership" })
    expect(run(state, [tick(100), received(101, "b", { _tag: "Ping", seq: 1, from: "b", target: "a", gossip: [] })]).outputs).toEqual([])
    expect(liveMembers(state).has("a")).toBe(false)

    const b = knowing("b", ["a", "c"])
    const heard = run(b, [received(51, "a", left as Message)])
    expect(events(heard.outputs)).toEqual([{ _tag: "MemberLeft", name: "a" }])
    expect(liveMembers(heard.state).has("a")).toBe(false)
    // Rejoining later needs an incarnation above the Left.
    const back = run(state, [{ _tag: "Join", nowMs: 1000, seeds: [addr("b")] }])
    expect(sends(back.outputs)[0]?.message._tag).toBe("Sync")
    expect(firstGossip(sends(back.outputs)[0]!)).toEqual(alive("a", 2))
  })

  it("rejoining after a leave starts over: no suspicion or verdict from before the leave outlives it", () => {
    // It suspected b (its own link was failing), then left; b's refutation could not reach it.
    const a = run(knowing("a", ["b", "c"]), [
      received(5, "c", { _tag: "Gossip", from: "c", gossip: [{ _tag: "Suspect", name: "b", incarnation: 0 }] }),
      { _tag: "Leave", nowMs: 10 },
    ]).state
    expect(a.members.get("b")?.status).toBe("suspect")
    // Back long after the suspicion's deadline, with no seeds given: it asks every member it knew for a table.
    const back = run(a, [{ _tag: "Join", nowMs: 1_000, seeds: [] }, tick(1_000), tick(1_080)])
    expect(events(back.outputs)).toEqual([])
    const said = sends(back.outputs).flatMap((send) => (send.message._tag === "Sync" ? send.message.members : send.message.gossip))
    expect(said.filter((u) => u.name !== "a")).toEqual([])
    expect(new Set(sends(back.outputs).map((send) => send.to))).toEqual(new Set([addr("b"), addr("c")]))
    expect([...liveMembers(back.state)]).toEqual(["a"])
    // The first table brings the cluster's view.
    const synced = run(back.state, [received(1_081, "b", { _tag: "Sync", from: "b", reply: true, members: [alive("b"), alive("c"), alive("a", 1)] })])
    expect([...liveMembers(synced.state)].sort()).toEqual(["a", "b", "c"])
  })

  it("lists a suspect member in its table with its address, so a node that never heard of it counts it live", () => {
    const b = run(knowing("b", ["c"]), [received(5, "d", { _tag: "Gossip", from: "d", gossip: [{ _tag: "Suspect", name: "c", incarnation: 0 }] })]).state
    expect(b.members.get("c")?.status).toBe("suspect")
    const answer = sends(step(b, received(6, "a", { _tag: "Sync", from: "a", reply: false, members: [alive("a")] })).outputs)[0]!
    expect(answer.message).toEqual({ _tag: "Sync", from: "b", reply: true, members: [alive("b"), alive("c"), { _tag: "Suspect", name: "c", incarnation: 0 }, alive("a")] })
    const a = run(init("a"), [{ _tag: "Join", nowMs: 0, seeds: [addr("b")] }, received(7, "b", answer.message)])
    expect([...liveMembers(a.state)].sort()).toEqual(["a", "b", "c"])
    expect(a.state.members.get("c")).toMatchObject({ status: "suspect", address: addr("c") })
    // Where c was held alive at that incarnation, the pair only raises the suspicion, as a Suspect does.
    const d = run(knowing("d", ["c"]), [received(8, "b", answer.message)]).state
    expect(d.members.get("c")?.status).toBe("suspect")
  })

  it("orders statements about a member by incarnation (SWIM §4.2, memberlist's dead and left)", () => {
    const held = (status: Member["status"], incarnation: number): Member => ({ name: "m", address: "m:1", status, incarnation, sinceMs: 0 })
    const u = (tag: Update["_tag"], incarnation: number): Update =>
      tag === "Alive" ? { _tag: "Alive", name: "m", incarnation, address: "m:1" } : { _tag: tag, name: "m", incarnation }
    // Alive(i) overrides suspect(j) iff i > j; Suspect(i) overrides alive(j) iff i >= j.
    expect(supersedes(held("suspect", 1), u("Alive", 2))).toBe(true)
    expect(supersedes(held("suspect", 1), u("Alive", 1))).toBe(false)
    expect(supersedes(held("alive", 1), u("Suspect", 1))).toBe(true)
    expect(supersedes(held("alive", 2), u("Suspect", 1))).toBe(false)
    expect(supersedes(held("suspect", 1), u("Suspect", 1))).toBe(false)
    expect(supersedes(held("suspect", 1), u("Suspect", 2))).toBe(true)
    // Dead overrides a live member at the same or a newer incarnation; a stale Dead is dropped.
    expect(supersedes(held("alive", 3), u("Dead", 3))).toBe(true)
    expect(supersedes(held("suspect", 3), u("Dead", 4))).toBe(true)
    expect(supersedes(held("alive", 3), u("Dead", 2))).toBe(false)
    // Only a newer Alive brings a dead or left member back; a suspicion never does.
    expect(supersedes(held("dead", 3), u("Alive", 3))).toBe(false)
    expect(supersedes(held("dead", 3), u("Alive", 4))).toBe(true)
    expect(supersedes(held("dead", 3), u("Suspect", 9))).toBe(false)
    expect(supersedes(held("dead", 3), u("Left", 3))).toBe(true)
    expect(supersedes(held("left", 3), u("Dead", 9))).toBe(false)
    // Unknown members: Alive, Dead and Left are recorded, a bare Suspect is not.
    expect(supersedes(undefined, u("Suspect", 0))).toBe(false)
    expect(supersedes(undefined, u("Dead", 0))).toBe(true)
  })

  it("announces a change of its down interfaces as a new incarnation, and only a change", () => {
    const a = knowing("a", ["b"])
    const set = (nowMs: number, names: ReadonlyArray<string>): MembershipInput => ({ _tag: "SetDownInterfaces", nowMs, names })
    const down = run(a, [set(1, ["eth2", "eth1", "eth1"])]).state
    expect(down.incarnation).toBe(a.incarnation + 1)
    expect(down.downInterfaces).toEqual(["eth1", "eth2"])
    expect(downInterfacesOf(down)).toEqual(new Map([["a", ["eth1", "eth2"]]]))
    expect(run(down, [set(2, ["eth1", "eth2"])]).state.incarnation).toBe(down.incarnation)
    // The new Alive rides on the next message, ahead of older news.
    const ping = sends(step(down, received(3, "b", { _tag: "Ping", seq: 1, from: "b", target: "a", gossip: [] })).outputs)[0]!
    expect(firstGossip(ping)).toEqual({ ...alive("a", 1), downInterfaces: ["eth1", "eth2"] })
    const up = run(down, [set(4, [])]).state
    expect(up.incarnation).toBe(2)
    expect(downInterfacesOf(up)).toEqual(new Map())
    // Not running: kept for the Alive of the next Join, no incarnation spent.
    const idle = run(init("c"), [set(0, ["eth1"])]).state
    expect(idle.incarnation).toBe(0)
    const joined = run(idle, [{ _tag: "Join", nowMs: 1, seeds: [addr("b")] }])
    expect(sends(joined.outputs)[0]!.message).toMatchObject({ _tag: "Sync", members: [{ ...alive("c"), downInterfaces: ["eth1"] }] })
  })

  it("holds a member's down interfaces from its newest Alive, while it is suspect too, and forgets them when it dies", () => {
    const a = knowing("a", ["b"])
    const gossip = (nowMs: number, u: Update) => received(nowMs, "c", { _tag: "Gossip", from: "c", gossip: [u] })
    const told = run(a, [gossip(1, { _tag: "Alive", name: "b", incarnation: 1, address: addr("b"), downInterfaces: ["eth1"] })]).state
    expect(downInterfacesOf(told)).toEqual(new Map([["b", ["eth1"]]]))
    expect(run(told, [gossip(2, alive("b", 1))]).state.members.get("b")?.downInterfaces).toEqual(["eth1"])
    const suspected = run(told, [gossip(2, { _tag: "Suspect", name: "b", incarnation: 1 })]).state
    expect(downInterfacesOf(suspected)).toEqual(new Map([["b", ["eth1"]]]))
    expect(downInterfacesOf(run(suspected, [gossip(3, alive("b", 2))]).state)).toEqual(new Map())
    expect(downInterfacesOf(run(suspected, [gossip(3, { _tag: "Dead", name: "b", incarnation: 1 })]).state)).toEqual(new Map())
  })

  it("never lowers a member's incarnation and never lets a stale statement through (property)", () => {
    const update = fc.record({ tag: fc.constantFrom("Alive", "Suspect", "Dead", "Left"), incarnation: fc.integer({ min: 0, max: 5 }) })
    fc.assert(
      fc.property(fc.array(update, { maxLength: 30 }), (updates) => {
        let s = knowing("a", ["m"])
        updates.forEach(({ tag, incarnation }, i) => {
          const u: Update = tag === "Alive"
            ? { _tag: "Alive", name: "m", incarnation, address: addr("m") }
            : { _tag: tag as "Suspect" | "Dead" | "Left", name: "m", incarnation }
          const before = s.members.get("m")!
          s = step(s, received(i, "x", { _tag: "Gossip", from: "x", gossip: [u] })).state
          const after = s.members.get("m")!
          expect(after.incarnation).toBeGreaterThanOrEqual(before.incarnation)
          if (u.incarnation < before.incarnation) expect(after).toEqual(before)
        })
      }),
      { numRuns: 1000 },
    )
  })
})
