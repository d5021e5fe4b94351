import { describe, expect, it } from "vitest"
import { BfdDiagnostic, type BfdState, type ControlPacket } from "../../../core/bfd/packet.ts"
import { type BfdSession, initialSession, sessionConfig } from "../../../core/bfd/session-state.ts"
import { isPathFailure, type SessionInput, type SessionOutput, step } from "../../../core/bfd/session.ts"
import { profile } from "./harness.ts"

const local = 0x1111
const remote = 0x2222

const fresh = (overrides: Parameters<typeof profile>[0] = {}): BfdSession => initialSession(sessionConfig(profile(overrides), local))

/** Applies inputs in order and returns the final state and the outputs of the last input. */
const run = (session: BfdSession, ...inputs: ReadonlyArray<SessionInput>): { state: BfdSession; outputs: ReadonlyArray<SessionOutput> } => {
  let state = session
  let outputs: ReadonlyArray<SessionOutput> = []
  for (const input of inputs) ({ state, outputs } = step(state, input))
  return { state, outputs }
}

const peer = (state: BfdState, overrides: Partial<ControlPacket> = {}): SessionInput => ({
  _tag: "PacketReceived",
  packet: {
    diagnostic: 0,
    state,
    poll: false,
    final: false,
    controlPlaneIndependent: false,
    demand: false,
    detectMultiplier: 3,
    myDiscriminator: remote,
    yourDiscriminator: state === "Down" || state === "AdminDown" ? 0 : local,
    desiredMinTxIntervalUs: 300_000,
    requiredMinRxIntervalUs: 300_000,
    requiredMinEchoRxIntervalUs: 0,
    ...overrides,
  },
  ttl: 255,
})

const start: SessionInput = { _tag: "Start", jitterFraction: 0 }
const transmit = (jitterFraction = 0): SessionInput => ({ _tag: "TimerExpired", timer: "Transmit", jitterFraction })
const detect: SessionInput = { _tag: "TimerExpired", timer: "Detect" }

const sends = (outputs: ReadonlyArray<SessionOutput>) => outputs.flatMap((o) => (o._tag === "Send" ? [o.packet] : []))
const changes = (outputs: ReadonlyArray<SessionOutput>) => outputs.filter((o) => o._tag === "StateChanged")
const timer = (outputs: ReadonlyArray<SessionOutput>, name: "Transmit" | "Detect") =>
  outputs.flatMap((o) => ((o._tag === "StartTimer" || o._tag === "ShortenTimer") && o.timer === name ? [o.durationMs] : []))
const discarded = (outputs: ReadonlyArray<SessionOutput>) => outputs.flatMap((o) => (o._tag === "PacketDiscarded" ? [o.reason] : []))

/** A session taken to Up through Down -> Init -> Up, with its Poll answered. */
const upSession = (overrides: Parameters<typeof profile>[0] = {}): BfdSession =>
  run(fresh(overrides), start, peer("Down"), peer("Up"), transmit(), peer("Up", { final: true })).state

describe("BFD session: start and transmission (RFC 5880 §6.8.7)", () => {
  it("sends a Down packet at once on Start with the slow 1 s rate and no echo, then arms Transmit", () => {
    const { state, outputs } = step(fresh(), start)
    expect(sends(outputs)).toEqual([{
      diagnostic: 0,
      state: "Down",
      poll: false,
      final: false,
      controlPlaneIndependent: false,
      demand: false,
      detectMultiplier: 3,
      myDiscriminator: local,
      yourDiscriminator: 0,
      desiredMinTxIntervalUs: 1_000_000,
      requiredMinRxIntervalUs: 300_000,
      requiredMinEchoRxIntervalUs: 0,
    }])
    expect(timer(outputs, "Transmit")).toEqual([1000])
    expect(state.running).toBe(true)
  })

  it("draws each transmit interval from the jitter fraction: 75–100% of 1 s while not Up", () => {
    expect(timer(step(fresh(), { _tag: "Start", jitterFraction: 0.999_999_9 }).outputs, "Transmit")).toEqual([750])
    const started = step(fresh(), start).state
    expect(timer(step(started, transmit(0.5)).outputs, "Transmit")).toEqual([875])
  })

  it("in passive mode sends nothing until a packet has arrived, then joins in", () => {
    const passive = fresh({ passiveMode: true })
    const started = step(passive, start)
    expect(sends(started.outputs)).toEqual([])
    expect(timer(started.outputs, "Transmit")).toEqual([1000])
    expect(sends(step(started.state, transmit()).outputs)).toEqual([])
    const heard = run(started.state, peer("Down"), transmit())
    expect(sends(heard.outputs)).toMatchObject([{ state: "Init", yourDiscriminator: remote }])
  })

  it("advertises Required Min Echo RX 0 even when the profile asks for echo mode (echo is not implemented)", () => {
    const { outputs } = step(fresh({ echoMode: true, echoIntervalMs: 50 }), start)
    expect(sends(outputs)[0]?.requiredMinEchoRxIntervalUs).toBe(0)
  })

  it("stops periodic packets when the peer's Required Min RX is 0", () => {
    const { state } = run(fresh(), start, peer("Down", { requiredMinRxIntervalUs: 0 }))
    expect(sends(step(state, transmit()).outputs)).toEqual([])
    expect(timer(step(state, transmit()).outputs, "Transmit")).toEqual([1000])
  })

  it("honours a peer in Demand mode: no periodic packets while both are Up and no Poll is running", () => {
    const up = upSession()
    const demanding = step(up, peer("Up", { demand: true })).state
    expect(sends(step(demanding, transmit()).outputs)).toEqual([])
    expect(sends(step(up, transmit()).outputs)).toHaveLength(1)
  })

  it("ignores inputs before Start, and a Transmit expiry that is not armed", () => {
    const s = fresh()
    const before = step(s, peer("Down"))
    expect(before.state).toEqual(s)
    expect(discarded(before.outputs)).toEqual(["NotRunning"])
    expect(step(s, transmit())).toEqual({ state: s, outputs: [] })
    expect(step(s, detect)).toEqual({ state: s, outputs: [] })
  })
})

describe("BFD session: the three-way handshake (RFC 5880 §6.2, §6.8.6)", () => {
  it("Down + Down -> Init, then Init + Up -> Up", () => {
    const init = run(fresh(), start, peer("Down"))
    expect(changes(init.outputs)).toEqual([{ _tag: "StateChanged", from: "Down", to: "Init", diagnostic: 0 }])
    const up = step(init.state, peer("Up"))
    expect(changes(up.outputs)).toEqual([{ _tag: "StateChanged", from: "Init", to: "Up", diagnostic: 0 }])
  })

  it("Down + Init -> Up, Init + Init -> Up", () => {
    expect(run(fresh(), start, peer("Init")).state.state).toBe("Up")
    expect(run(fresh(), start, peer("Down"), peer("Init")).state.state).toBe("Up")
  })

  it("stays Down on an Up packet (the peer must see us first)", () => {
    const { state, outputs } = run(fresh(), start, peer("Up"))
    expect(state.state).toBe("Down")
    expect(changes(outputs)).toEqual([])
  })

  it("learns the peer's discriminator and echoes it as Your Discriminator", () => {
    const { state } = run(fresh(), start, peer("Down"))
    expect(state.remoteDiscriminator).toBe(remote)
    expect(sends(step(state, transmit()).outputs)[0]?.yourDiscriminator).toBe(remote)
  })

  it("arms Detect on every accepted packet: remote mult × max(our RX, its TX)", () => {
    expect(timer(run(fresh(), start, peer("Down", { desiredMinTxIntervalUs: 1_000_000 })).outputs, "Detect")).toEqual([3000])
    expect(timer(run(fresh(), start, peer("Down", { detectMultiplier: 5, desiredMinTxIntervalUs: 100_000 })).outputs, "Detect")).toEqual([1500])
  })

  it("transmits at max(our desired TX, the peer's required RX)", () => {
    const up = upSession()
    expect(timer(step(up, transmit()).outputs, "Transmit")).toEqual([300])
    const slowPeer = step(up, peer("Up", { requiredMinRxIntervalUs: 500_000 })).state
    expect(timer(step(slowPeer, transmit()).outputs, "Transmit")).toEqual([500])
  })

  it("speeds up at once when the peer lowers its Required Min RX (§6.8.3)", () => {
    const slowPeer = step(upSession(), peer("Up", { requiredMinRxIntervalUs: 2_000_000 })).state
    const armed = step(slowPeer, transmit()).state
    // Shortened, not restarted: a packet about to go is not pushed back.
    expect(step(armed, peer("Up", { requiredMinRxIntervalUs: 300_000 })).outputs).toContainEqual({ _tag: "ShortenTimer", timer: "Transmit", durationMs: 300 })
  })
})

describe("BFD session: going down (RFC 5880 §6.8.4, §6.8.6, §6.8.16)", () => {
  it("Detect expiry in Up -> Down with diag 1 (Control Detection Time Expired), forgetting the peer", () => {
    const { state, outputs } = step(upSession(), detect)
    expect(changes(outputs)).toEqual([{ _tag: "StateChanged", from: "Up", to: "Down", diagnostic: BfdDiagnostic.ControlDetectionTimeExpired }])
    expect(state.remoteDiscriminator).toBe(0)
    expect(sends(step(state, transmit()).outputs)).toMatchObject([{ state: "Down", diagnostic: 1, yourDiscriminator: 0 }])
  })

  it("Detect expiry in Init -> Down with diag 1; in Down nothing changes but the peer is forgotten", () => {
    const init = run(fresh(), start, peer("Down")).state
    expect(changes(step(init, detect).outputs)).toMatchObject([{ from: "Init", to: "Down", diagnostic: 1 }])
    const down = run(fresh(), start, peer("Up")).state
    const expired = step(down, detect)
    expect(changes(expired.outputs)).toEqual([])
    expect(expired.state.remoteDiscriminator).toBe(0)
  })

  it("a passive session goes quiet again after a detection timeout", () => {
    const { state } = run(fresh({ passiveMode: true }), start, peer("Down"), detect)
    expect(sends(step(state, transmit()).outputs)).toEqual([])
  })

  it("Up + Down from the peer -> Down with diag 3 (Neighbor Signaled Session Down)", () => {
    expect(changes(step(upSession(), peer("Down")).outputs)).toEqual([
      { _tag: "StateChanged", from: "Up", to: "Down", diagnostic: BfdDiagnostic.NeighborSignaledSessionDown },
    ])
  })

  it("the peer's AdminDown takes Up and Init to Down with diag 3, and leaves Down alone", () => {
    expect(changes(step(upSession(), peer("AdminDown")).outputs)).toMatchObject([{ from: "Up", to: "Down", diagnostic: 3 }])
    const init = run(fresh(), start, peer("Down")).state
    expect(changes(step(init, peer("AdminDown")).outputs)).toMatchObject([{ from: "Init", to: "Down", diagnostic: 3 }])
    const down = run(fresh(), start)
    expect(changes(step(down.state, peer("AdminDown")).outputs)).toEqual([])
  })

  it("AdminDown -> AdminDown with diag 7, stops Detect, keeps sending AdminDown, discards packets", () => {
    const { state, outputs } = step(upSession(), { _tag: "AdminDown" })
    expect(changes(outputs)).toEqual([{ _tag: "StateChanged", from: "Up", to: "AdminDown", diagnostic: BfdDiagnostic.AdministrativelyDown }])
    expect(outputs).toContainEqual({ _tag: "StopTimer", timer: "Detect" })
    expect(sends(step(state, transmit()).outputs)).toMatchObject([{ state: "AdminDown", diagnostic: 7, desiredMinTxIntervalUs: 1_000_000 }])
    const ignored = step(state, peer("Init"))
    expect(discarded(ignored.outputs)).toEqual(["LocalAdminDown"])
    expect(ignored.state.state).toBe("AdminDown")
    expect(timer(ignored.outputs, "Detect")).toEqual([])
  })

  it("Start after AdminDown re-enables: AdminDown -> Down with no diagnostic, then the handshake again", () => {
    const admin = step(upSession(), { _tag: "AdminDown" }).state
    const { state, outputs } = step(admin, start)
    expect(changes(outputs)).toEqual([{ _tag: "StateChanged", from: "AdminDown", to: "Down", diagnostic: 0 }])
    expect(run(state, peer("Init")).state.state).toBe("Up")
  })

  it("AdminDown before Start holds the session down until Start", () => {
    const admin = step(fresh(), { _tag: "AdminDown" })
    expect(changes(admin.outputs)).toMatchObject([{ from: "Down", to: "AdminDown", diagnostic: 7 }])
    const started = step(admin.state, start)
    expect(changes(started.outputs)).toMatchObject([{ from: "AdminDown", to: "Down" }])
    expect(sends(started.outputs)).toMatchObject([{ state: "Down" }])
  })
})

describe("BFD session: packets the session refuses (RFC 5880 §6.8.6, RFC 5881 §5)", () => {
  it("discards a packet with an authentication section: this implementation authenticates nothing", () => {
    const started = step(fresh(), start).state
    const input = peer("Down")
    const authenticated: SessionInput = input._tag === "PacketReceived"
      ? { ...input, packet: { ...input.packet, authentication: { type: 1, data: Uint8Array.of(1, 65) } } }
      : input
    const { state, outputs } = step(started, authenticated)
    expect(discarded(outputs)).toEqual(["AuthenticationNotSupported"])
    expect(state).toEqual(started)
  })

  it("discards a packet whose TTL is not 255 (single hop)", () => {
    const started = step(fresh(), start).state
    const { state, outputs } = step(started, { ...peer("Down"), ttl: 254 } as SessionInput)
    expect(discarded(outputs)).toEqual(["TtlNot255"])
    expect(state).toEqual(started)
    expect(step(started, { _tag: "PacketReceived", packet: (peer("Down") as { packet: ControlPacket }).packet }).state.state).toBe("Init")
  })

  it("multihop (RFC 5883): accepts TTLs from the profile's minimumTtl up, discards lower ones", () => {
    const multihop = (minimumTtl: number) => step(initialSession(sessionConfig(profile({ minimumTtl }), local, true)), start).state
    const arrived = (session: BfdSession, ttl: number) => step(session, { ...peer("Down"), ttl } as SessionInput)
    // Two routers away (253) with FRR's default minimum of 254: refused; one router away (254): accepted.
    expect(discarded(arrived(multihop(254), 253).outputs)).toEqual(["TtlBelowMinimum"])
    expect(arrived(multihop(254), 253).state).toEqual(multihop(254))
    expect(arrived(multihop(254), 254).state.state).toBe("Init")
    expect(arrived(multihop(254), 255).state.state).toBe("Init")
    expect(arrived(multihop(200), 201).state.state).toBe("Init")
    expect(discarded(arrived(multihop(200), 199).outputs)).toEqual(["TtlBelowMinimum"])
    // A Reconfigure (new timers) keeps the session multihop.
    const reconfigured = step(multihop(254), { _tag: "Reconfigure", profile: profile({ minimumTtl: 254, transmitIntervalMs: 100 }) }).state
    expect(reconfigured.config.multihop).toBe(true)
    expect(arrived(reconfigured, 254).state.state).toBe("Init")
  })

  it("discards a packet addressed to another discriminator", () => {
    const started = step(fresh(), start).state
    const { state, outputs } = step(started, peer("Init", { yourDiscriminator: local + 1 }))
    expect(discarded(outputs)).toEqual(["DiscriminatorMismatch"])
    expect(state).toEqual(started)
  })
})

describe("BFD session: Poll and Final (RFC 5880 §6.5, §6.8.3)", () => {
  it("answers a Poll at once with Final, P clear, outside the transmit schedule", () => {
    const { outputs } = run(fresh(), start, peer("Down", { poll: true }))
    expect(sends(outputs)).toMatchObject([{ final: true, poll: false, state: "Init" }])
    expect(timer(outputs, "Transmit")).toEqual([])
  })

  it("polls on the first packets after going Up (1 s -> 300 ms) until a Final arrives", () => {
    const up = run(fresh(), start, peer("Down"), peer("Up")).state
    expect(up.poll).toBe("Pending")
    const first = step(up, transmit())
    expect(sends(first.outputs)).toMatchObject([{ poll: true, final: false, desiredMinTxIntervalUs: 300_000 }])
    const again = step(first.state, transmit())
    expect(sends(again.outputs)).toMatchObject([{ poll: true }])
    const answered = step(again.state, peer("Up", { final: true }))
    expect(answered.state.poll).toBe("Idle")
    expect(sends(step(answered.state, transmit()).outputs)).toMatchObject([{ poll: false }])
  })

  it("switches to the fast rate at once on going Up (a decrease needs no wait)", () => {
    const init = run(fresh(), start, peer("Down")).state
    expect(step(init, peer("Up")).outputs).toContainEqual({ _tag: "ShortenTimer", timer: "Transmit", durationMs: 300 })
  })

  it("ignores a Final that no Poll asked for, and one that answers older values", () => {
    const up = upSession()
    expect(step(up, peer("Up", { final: true })).state).toEqual(step(up, peer("Up")).state)
    const changed = step(up, { _tag: "Reconfigure", profile: profile({ transmitIntervalMs: 1000 }) }).state
    expect(changed.poll).toBe("Pending")
    expect(step(changed, peer("Up", { final: true })).state.poll).toBe("Pending")
  })

  it("a slower TX while Up is advertised at once but used only after the Final", () => {
    const changed = step(upSession(), { _tag: "Reconfigure", profile: profile({ transmitIntervalMs: 1000 }) }).state
    const polled = step(changed, transmit())
    expect(sends(polled.outputs)).toMatchObject([{ poll: true, desiredMinTxIntervalUs: 1_000_000 }])
    expect(timer(polled.outputs, "Transmit")).toEqual([300])
    const final = step(polled.state, peer("Up", { final: true }))
    expect(timer(step(final.state, transmit()).outputs, "Transmit")).toEqual([1000])
  })

  it("a shorter RX while Up is advertised at once but shortens detection only after the Final", () => {
    const up = upSession()
    const changed = step(up, { _tag: "Reconfigure", profile: profile({ receiveIntervalMs: 100 }) }).state
    const fastPeer = { desiredMinTxIntervalUs: 100_000 }
    expect(timer(step(changed, peer("Up", fastPeer)).outputs, "Detect")).toEqual([900])
    const polled = step(changed, transmit())
    expect(sends(polled.outputs)).toMatchObject([{ poll: true, requiredMinRxIntervalUs: 100_000 }])
    expect(timer(step(polled.state, peer("Up", { ...fastPeer, final: true })).outputs, "Detect")).toEqual([300])
  })

  it("a longer RX takes effect at once (it only lengthens detection)", () => {
    const changed = step(upSession(), { _tag: "Reconfigure", profile: profile({ receiveIntervalMs: 1000 }) }).state
    expect(timer(step(changed, peer("Up")).outputs, "Detect")).toEqual([3000])
  })

  it("the Final response carries the new values even before our own Poll has gone out", () => {
    const changed = step(upSession(), { _tag: "Reconfigure", profile: profile({ receiveIntervalMs: 500 }) }).state
    expect(sends(step(changed, peer("Up", { poll: true })).outputs)).toMatchObject([{ final: true, poll: false, requiredMinRxIntervalUs: 500_000 }])
  })
})

describe("BFD session: what a client protocol acts on (RFC 5882 §3.2)", () => {
  it("only Up -> Down, and not when the neighbour went AdminDown on purpose", () => {
    // As a session reports it: a detection timeout after Up packets, or the neighbour saying Down, is a failure.
    expect(isPathFailure("Up", "Down", "Up")).toBe(true)
    expect(isPathFailure("Up", "Down", "Down")).toBe(true)
    // The neighbour's AdminDown (a router being reconfigured, a speaker stopping) is not.
    expect(isPathFailure("Up", "Down", "AdminDown")).toBe(false)
    // Nor is anything that was not Up, or our own AdminDown.
    expect(isPathFailure("Init", "Down", "Up")).toBe(false)
    expect(isPathFailure("Down", "Init", "Down")).toBe(false)
    expect(isPathFailure("Up", "AdminDown", "Up")).toBe(false)
  })
})
