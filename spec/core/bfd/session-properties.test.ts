import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { BfdProfile } from "../../../core/config/config.ts"
import { decodeControlPacket, encodeControlPacket } from "../../../core/bfd/codec.ts"
import { bfdStates, type ControlPacket } from "../../../core/bfd/packet.ts"
import { type BfdSession, initialSession, sessionConfig } from "../../../core/bfd/session-state.ts"
import { type SessionInput, step, type TimerName, type Transition } from "../../../core/bfd/session.ts"
import { Harness, profile } from "./harness.ts"

const local = 0x1234
const intervalUs = fc.constantFrom(0, 1, 10_000, 100_000, 300_000, 1_000_000, 0xffffffff)
const intervalMs = fc.constantFrom(10, 100, 300, 1000, 60_000)

const profileArbitrary: fc.Arbitrary<BfdProfile> = fc.record({
  receiveIntervalMs: intervalMs,
  transmitIntervalMs: intervalMs,
  detectMultiplier: fc.oneof(fc.constantFrom(1, 2, 3), fc.integer({ min: 1, max: 255 })),
  passiveMode: fc.boolean(),
  echoMode: fc.boolean(),
}).map((overrides) => profile(overrides))

/** Valid on the wire (what the codec lets through), addressed to us or to someone else, sometimes authenticated. */
const packetArbitrary: fc.Arbitrary<ControlPacket> = fc.record({
  diagnostic: fc.integer({ min: 0, max: 31 }),
  state: fc.constantFrom(...bfdStates),
  poll: fc.boolean(),
  final: fc.boolean(),
  controlPlaneIndependent: fc.boolean(),
  demand: fc.boolean(),
  detectMultiplier: fc.oneof(fc.constantFrom(1, 3), fc.integer({ min: 1, max: 255 })),
  myDiscriminator: fc.constantFrom(0x9999, 0x7777),
  yourDiscriminator: fc.constantFrom(0, local, local, 0x4242),
  desiredMinTxIntervalUs: intervalUs,
  requiredMinRxIntervalUs: intervalUs,
  requiredMinEchoRxIntervalUs: intervalUs,
  authenticated: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
}).map(({ authenticated, ...packet }): ControlPacket => ({
  ...packet,
  yourDiscriminator: packet.yourDiscriminator === 0 && (packet.state === "Init" || packet.state === "Up") ? local : packet.yourDiscriminator,
  ...(authenticated ? { authentication: { type: 1, data: Uint8Array.of(1, 112, 119) } } : {}),
}))

const fraction = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })

const inputArbitrary: fc.Arbitrary<SessionInput> = fc.oneof(
  { weight: 2, arbitrary: fraction.map((jitterFraction): SessionInput => ({ _tag: "Start", jitterFraction })) },
  { weight: 1, arbitrary: fc.constant<SessionInput>({ _tag: "AdminDown" }) },
  {
    weight: 8,
    arbitrary: fc.tuple(packetArbitrary, fc.constantFrom(undefined, 255, 255, 255, 254)).map(([packet, ttl]): SessionInput => ({
      _tag: "PacketReceived",
      packet,
      ...(ttl === undefined ? {} : { ttl }),
    })),
  },
  { weight: 4, arbitrary: fraction.map((jitterFraction): SessionInput => ({ _tag: "TimerExpired", timer: "Transmit", jitterFraction })) },
  { weight: 2, arbitrary: fc.constant<SessionInput>({ _tag: "TimerExpired", timer: "Detect" }) },
  { weight: 1, arbitrary: profileArbitrary.map((p): SessionInput => ({ _tag: "Reconfigure", profile: p })) },
)

const scenario = fc.tuple(profileArbitrary, fc.array(inputArbitrary, { maxLength: 60 }))

interface StepView {
  readonly before: BfdSession
  readonly input: SessionInput
  readonly transition: Transition
  /** The timers a shell would have armed after this step (StartTimer, ShortenTimer, StopTimer, expiries). */
  readonly armed: ReadonlySet<TimerName>
  /** Whether the timer this input reports expired was armed (a real expiry) or not (a stale one). */
  readonly realExpiry: boolean
}

/** Replays the inputs from a fresh session, calling `check` after every step. */
const replay = (config: BfdProfile, inputs: ReadonlyArray<SessionInput>, check: (view: StepView) => void): void => {
  let session = initialSession(sessionConfig(config, local))
  const armed = new Set<TimerName>()
  for (const input of inputs) {
    const realExpiry = input._tag === "TimerExpired" && armed.has(input.timer)
    if (input._tag === "TimerExpired") armed.delete(input.timer)
    const transition = step(session, input)
    for (const output of transition.outputs) {
      if (output._tag === "StartTimer" || output._tag === "ShortenTimer") armed.add(output.timer)
      if (output._tag === "StopTimer") armed.delete(output.timer)
    }
    check({ before: session, input, transition, armed, realExpiry })
    session = transition.state
  }
}

describe("BFD session properties (random input sequences)", () => {
  it("draws sequences that reach every state and every diagnostic the session sets (generator coverage)", () => {
    const seen = new Set<string>()
    for (const [config, inputs] of fc.sample(scenario, { numRuns: 1000, seed: 42 })) {
      replay(config, inputs, ({ transition }) => {
        for (const o of transition.outputs) {
          if (o._tag === "StateChanged") seen.add(`${o.from}->${o.to}/${o.diagnostic}`)
          if (o._tag === "Send" && o.packet.final) seen.add("Final")
          if (o._tag === "Send" && o.packet.poll) seen.add("Poll")
          if (o._tag === "PacketDiscarded") seen.add(o.reason)
          if (o._tag === "ShortenTimer") seen.add("ShortenTimer")
        }
        if (transition.state.poll === "Idle" && transition.outputs.length > 0) seen.add("PollIdle")
      })
    }
    expect([...seen].sort()).toEqual(expect.arrayContaining([
      "AdminDown->Down/0",
      "AuthenticationNotSupported",
      "DiscriminatorMismatch",
      "Down->AdminDown/7",
      "Down->Init/0",
      "Down->Up/0",
      "Final",
      "Init->Down/1",
      "Init->Down/3",
      "Init->Up/0",
      "LocalAdminDown",
      "NotRunning",
      "Poll",
      "ShortenTimer",
      "TtlNot255",
      "Up->AdminDown/7",
      "Up->Down/1",
      "Up->Down/3",
    ]))
  })

  it("never goes Up without a packet in Init or Up from the peer (property)", () => {
    fc.assert(
      fc.property(scenario, ([config, inputs]) => {
        replay(config, inputs, ({ before, input, transition }) => {
          if (before.state !== "Up" && transition.state.state === "Up") {
            expect(input._tag).toBe("PacketReceived")
            if (input._tag === "PacketReceived") {
              expect(["Init", "Up"]).toContain(input.packet.state)
              expect(input.packet.authentication).toBeUndefined()
              expect([0, local]).toContain(input.packet.yourDiscriminator)
              expect(before.state === "Down" ? input.packet.state : "Init").toBe("Init")
            }
          }
        })
      }),
      { numRuns: 1000 },
    )
  })

  it("keeps the Detect timer armed while Up, and its own idea of the armed timers equal to the shell's (property)", () => {
    fc.assert(
      fc.property(scenario, ([config, inputs]) => {
        replay(config, inputs, ({ transition, armed }) => {
          const s = transition.state
          if (s.state === "Up") expect(armed.has("Detect")).toBe(true)
          expect(s.detectTimerArmed).toBe(armed.has("Detect"))
          expect(s.transmitTimerIntervalUs !== null).toBe(armed.has("Transmit"))
          expect(armed.has("Transmit")).toBe(s.running)
        })
      }),
      { numRuns: 1000 },
    )
  })

  it("is total and deterministic, and only emits well-formed outputs (property)", () => {
    fc.assert(
      fc.property(scenario, ([config, inputs]) => {
        replay(config, inputs, ({ before, input, transition, realExpiry }) => {
          expect(step(before, input)).toEqual(transition)
          const s = transition.state
          const changes = transition.outputs.filter((o) => o._tag === "StateChanged")
          expect(changes).toEqual(before.state === s.state ? [] : [{ _tag: "StateChanged", from: before.state, to: s.state, diagnostic: s.localDiagnostic }])
          if (input._tag === "TimerExpired" && !realExpiry) expect(transition).toEqual({ state: before, outputs: [] })
          if (s.state === "Init" || s.state === "Up") expect(s.remoteDiscriminator).not.toBe(0)
          for (const output of transition.outputs) {
            if (output._tag === "Send") {
              const decoded = decodeControlPacket(encodeControlPacket(output.packet))
              expect(Result.isSuccess(decoded) && decoded.success).toEqual(output.packet)
              expect(output.packet.poll && output.packet.final).toBe(false)
              expect(output.packet.requiredMinEchoRxIntervalUs).toBe(0)
              expect(output.packet.state).toBe(s.state)
              if (!output.packet.final) expect(s.config.passive && s.remoteDiscriminator === 0).toBe(false)
            }
            if (output._tag === "StartTimer" || output._tag === "ShortenTimer") {
              expect(Number.isFinite(output.durationMs) && output.durationMs > 0).toBe(true)
            }
          }
        })
      }),
      { numRuns: 1000 },
    )
  })
})

describe("BFD back-to-back properties", () => {
  type Fault =
    | { readonly _tag: "Cut"; readonly side: "A" | "B" }
    | { readonly _tag: "Heal"; readonly side: "A" | "B" }
    | { readonly _tag: "AdminDown"; readonly side: "A" | "B" }
    | { readonly _tag: "Start"; readonly side: "A" | "B" }
    | { readonly _tag: "Reconfigure"; readonly side: "A" | "B"; readonly profile: BfdProfile }
  const side = fc.constantFrom("A" as const, "B" as const)
  const fault: fc.Arbitrary<Fault> = fc.oneof(
    side.map((s): Fault => ({ _tag: "Cut", side: s })),
    side.map((s): Fault => ({ _tag: "Heal", side: s })),
    side.map((s): Fault => ({ _tag: "AdminDown", side: s })),
    side.map((s): Fault => ({ _tag: "Start", side: s })),
    fc.tuple(side, profileArbitrary.map((p) => ({ ...p, passiveMode: false, detectMultiplier: Math.max(2, p.detectMultiplier) })))
      .map(([s, p]): Fault => ({ _tag: "Reconfigure", side: s, profile: p })),
  )

  it("after any script of cuts, admin actions and reconfigurations, healing and enabling both sides brings both Up (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7fffffff }),
        fc.array(fc.tuple(fault, fc.integer({ min: 0, max: 3000 })), { maxLength: 12 }),
        (seed, script) => {
          const h = new Harness({ seed })
          h.start("A")
          h.start("B")
          for (const [f, waitMs] of script) {
            if (f._tag === "Cut") h.cut.add(f.side)
            else if (f._tag === "Heal") h.cut.delete(f.side)
            else if (f._tag === "AdminDown") h.input(f.side, { _tag: "AdminDown" })
            else if (f._tag === "Start") h.start(f.side)
            else h.input(f.side, { _tag: "Reconfigure", profile: f.profile })
            h.runUntil(h.nowMs + waitMs)
          }
          h.cut.clear()
          h.start("A")
          h.start("B")
          // A stale side may first have to time out: at most one detection time (255 × 60 s here), then the handshake.
          const limitMs = h.nowMs + 255 * 60_000 + 3 * 60_000
          expect(h.runUntilTrue(() => h.session("A").state === "Up" && h.session("B").state === "Up", limitMs)).toBe(true)
          expect(h.decodeFailures).toEqual([])
        },
      ),
      { numRuns: 200 },
    )
  })
})
