// A driver for the session FSM in tests: feeds inputs, keeps the log, and keeps a model of the timers
// the shell would hold, built only from StartTimer/StopTimer outputs and fired TimerExpired inputs.
// The property tests generate abstract commands that the driver turns into inputs aimed at the live
// connections, the dial in flight and the running timers (or, on purpose, at stale ones).
import { Result } from "effect"
import fc from "fast-check"
import { metallbBackoff, type SessionConfig } from "../../../core/bgp/session/config.ts"
import type { ConnectionId, SessionInput, TimerName } from "../../../core/bgp/session/inputs.ts"
import type { SessionOutput } from "../../../core/bgp/session/outputs.ts"
import { makeSession, type RunningTimer, runningTimers, type Session } from "../../../core/bgp/session/state.ts"
import { step } from "../../../core/bgp/session/step.ts"
import type { Capability, Message, Notification, Open, Update } from "../../../core/bgp/messages.ts"

export const bgpId = (dotted: string): number => dotted.split(".").reduce((n, octet) => n * 256 + Number(octet), 0)

export const baseConfig: SessionConfig = {
  localAsn: 65000,
  peerAsn: 65001,
  localBgpIdentifier: bgpId("10.0.0.1"),
  holdTimeSeconds: 90,
  keepaliveTimeSeconds: 0,
  connectRetryTimeSeconds: 10,
  families: ["ipv4", "ipv6"],
  gracefulRestart: { enabled: false, restartTimeSeconds: 120, restarting: false, forwardingPreserved: false },
  passive: false,
  backoff: metallbBackoff,
}

export const configWith = (over: Partial<SessionConfig>): SessionConfig => ({ ...baseConfig, ...over })

export const peerOpen = (over: Partial<Open> = {}): Open => ({
  _tag: "Open",
  asn: 65001,
  holdTimeSeconds: 90,
  bgpIdentifier: bgpId("10.0.0.2"),
  capabilities: [
    { _tag: "Multiprotocol", family: "ipv4" },
    { _tag: "Multiprotocol", family: "ipv6" },
    { _tag: "RouteRefresh" },
    { _tag: "FourOctetAsn", asn: over.asn ?? 65001 },
  ],
  ...over,
})

export const keepalive: Message = { _tag: "Keepalive" }
export const emptyUpdate: Update = { _tag: "Update", withdrawn: [], attributes: {}, nlri: [] }

const timerKey = (t: { readonly timer: TimerName; readonly connection?: ConnectionId }) => `${t.timer}/${t.connection ?? "-"}`

export interface Step {
  readonly input: SessionInput
  readonly before: Session
  readonly after: Session
  readonly outputs: ReadonlyArray<SessionOutput>
}

export class Driver {
  state: Session
  readonly log: Array<Step> = []
  /** The shell's timers, by token. */
  readonly timers = new Map<number, RunningTimer>()
  /** Misuses of the timer protocol seen in the outputs (a start over a running timer, a stop of none). */
  readonly timerErrors: Array<string> = []
  private nextConnection = 1

  constructor(config: SessionConfig = baseConfig) {
    const made = makeSession(config)
    if (Result.isFailure(made)) throw new Error(made.failure.message)
    this.state = made.success
  }

  feed(input: SessionInput): ReadonlyArray<SessionOutput> {
    if (input._tag === "TimerExpired") this.timers.delete(input.token)
    const before = this.state
    const { state, outputs } = step(before, input)
    for (const o of outputs) {
      if (o._tag === "StartTimer") {
        if ([...this.timers.values()].some((t) => timerKey(t) === timerKey(o))) this.timerErrors.push(`start over running ${timerKey(o)}`)
        if (this.timers.has(o.token)) this.timerErrors.push(`token ${o.token} reused`)
        this.timers.set(o.token, { timer: o.timer, token: o.token, ...(o.connection === undefined ? {} : { connection: o.connection }) })
      } else if (o._tag === "StopTimer") {
        if (!this.timers.delete(o.token)) this.timerErrors.push(`stop of idle ${timerKey(o)}`)
      }
    }
    this.state = state
    this.log.push({ input, before, after: state, outputs })
    return outputs
  }

  newConnectionId(): ConnectionId {
    return this.nextConnection++
  }

  running(timer: TimerName, connection?: ConnectionId): RunningTimer | undefined {
    return runningTimers(this.state).find((t) => t.timer === timer && t.connection === connection)
  }

  fire(timer: TimerName, connection?: ConnectionId): ReadonlyArray<SessionOutput> {
    const t = this.running(timer, connection)
    if (t === undefined) throw new Error(`${timerKey({ timer, ...(connection === undefined ? {} : { connection }) })} is not running`)
    return this.feed({ _tag: "TimerExpired", timer, token: t.token })
  }

  receive(connection: ConnectionId, message: Message): ReadonlyArray<SessionOutput> {
    return this.feed({ _tag: "MessageReceived", connection, message })
  }

  /** ManualStart and a successful dial: returns the outgoing connection, in OpenSent. */
  dialled(): ConnectionId {
    this.feed({ _tag: "ManualStart" })
    return this.completeDial()
  }

  completeDial(): ConnectionId {
    const attempt = this.state.dialAttempt
    if (attempt === undefined) throw new Error("no dial in flight")
    const connection = this.newConnectionId()
    this.feed({ _tag: "TcpConnected", attempt, connection })
    return connection
  }

  incoming(): ConnectionId {
    const connection = this.newConnectionId()
    this.feed({ _tag: "IncomingConnection", connection })
    return connection
  }

  /** ManualStart, dial, OPEN and KEEPALIVE from the peer: an Established outgoing connection. */
  established(open: Open = peerOpen()): ConnectionId {
    const c = this.dialled()
    this.receive(c, open)
    this.receive(c, keepalive)
    return c
  }
}

export const sends = (outputs: ReadonlyArray<SessionOutput>, connection?: ConnectionId): ReadonlyArray<Message> =>
  outputs.flatMap((o) => (o._tag === "Send" && (connection === undefined || o.connection === connection) ? [o.message] : []))

export const notificationsIn = (outputs: ReadonlyArray<SessionOutput>, connection?: ConnectionId): ReadonlyArray<Notification> =>
  sends(outputs, connection).flatMap((m) => (m._tag === "Notification" ? [m] : []))

export const tags = (outputs: ReadonlyArray<SessionOutput>): ReadonlyArray<string> => outputs.map((o) => o._tag)

// ---- random command sequences for the properties ----

export type Command =
  | { readonly k: "ManualStart" }
  | { readonly k: "ManualStop"; readonly subcode?: number }
  | { readonly k: "AutomaticStart" }
  | { readonly k: "TcpConnected"; readonly stale: boolean }
  | { readonly k: "TcpConnectFailed"; readonly stale: boolean }
  | { readonly k: "Incoming" }
  | { readonly k: "TcpClosed"; readonly pick: number }
  | { readonly k: "Message"; readonly pick: number; readonly message: Message }
  /** What the peer would send next: `open` in OpenSent, else a KEEPALIVE. */
  | { readonly k: "Expected"; readonly pick: number; readonly open: Open }
  | { readonly k: "DecodeFailed"; readonly pick: number }
  | { readonly k: "Fire"; readonly pick: number }
  | { readonly k: "BfdDown" }
  | { readonly k: "SendUpdates"; readonly count: number }

const arbFamily = fc.constantFrom("ipv4" as const, "ipv6" as const)

const arbCapabilities = (asn: number): fc.Arbitrary<ReadonlyArray<Capability>> =>
  fc.record({
    families: fc.subarray(["ipv4", "ipv6"] as const),
    routeRefresh: fc.boolean(),
    fourOctet: fc.oneof(fc.constant(asn), fc.constant(undefined), fc.integer({ min: 1, max: 0xffff_ffff })),
    gr: fc.option(fc.record({ restarting: fc.boolean(), restartTimeSeconds: fc.integer({ min: 0, max: 4095 }) }), { nil: undefined }),
  }).map(({ families, routeRefresh, fourOctet, gr }) => [
    ...families.map((family): Capability => ({ _tag: "Multiprotocol", family })),
    ...(routeRefresh ? [{ _tag: "RouteRefresh" } as const] : []),
    ...(fourOctet === undefined ? [] : [{ _tag: "FourOctetAsn", asn: fourOctet } as const]),
    ...(gr === undefined ? [] : [{ _tag: "GracefulRestart", ...gr, families: families.map((family) => ({ family, forwardingPreserved: true })) } as const]),
  ])

/** OPENs mostly from the configured peer, sometimes wrong in one of the ways the FSM checks. */
export const arbOpen = (config: SessionConfig): fc.Arbitrary<Open> => {
  const goodAsn = typeof config.peerAsn === "number" ? config.peerAsn : config.peerAsn === "internal" ? config.localAsn : 65099
  return fc.record({
    asn: fc.oneof({ weight: 6, arbitrary: fc.constant(goodAsn) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) }),
    holdTimeSeconds: fc.constantFrom(0, 1, 2, 3, 9, 90, 180, 65535),
    bgpIdentifier: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 1, max: 0xffff_ffff }) },
      { weight: 1, arbitrary: fc.constantFrom(0, config.localBgpIdentifier) },
    ),
  }).chain(({ asn, holdTimeSeconds, bgpIdentifier }) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(peerOpen({ asn: asn > 0xffff ? 23456 : asn, holdTimeSeconds, bgpIdentifier, capabilities: peerOpen({ asn }).capabilities })) },
      { weight: 1, arbitrary: arbCapabilities(asn).map((capabilities) => peerOpen({ asn: asn > 0xffff ? 23456 : asn, holdTimeSeconds, bgpIdentifier, capabilities })) },
    )
  )
}

export const arbMessage = (config: SessionConfig): fc.Arbitrary<Message> =>
  fc.oneof(
    { weight: 3, arbitrary: arbOpen(config) },
    { weight: 4, arbitrary: fc.constant(keepalive) },
    { weight: 2, arbitrary: fc.constant(emptyUpdate) },
    {
      weight: 1,
      arbitrary: fc.record({ code: fc.integer({ min: 1, max: 7 }), subcode: fc.integer({ min: 0, max: 11 }) }).map(({ code, subcode }): Message => ({
        _tag: "Notification",
        code,
        subcode,
        data: new Uint8Array(0),
      })),
    },
    { weight: 1, arbitrary: fc.record({ family: arbFamily, subtype: fc.constantFrom(0, 0, 1, 2) }).map((r): Message => ({ _tag: "RouteRefresh", ...r })) },
  )

export const arbConfig: fc.Arbitrary<SessionConfig> = fc.record({
  localAsn: fc.constantFrom(65000, 4_200_000_000),
  peerKind: fc.constantFrom("ebgp", "ibgp", "internal", "external", "ebgp4"),
  localBgpIdentifier: fc.constantFrom(bgpId("10.0.0.1"), bgpId("10.0.0.2"), bgpId("10.0.0.3"), 0xffff_ffff),
  holdTimeSeconds: fc.constantFrom(0, 3, 9, 90, 240),
  keepaliveTimeSeconds: fc.constantFrom(0, 1, 10, 30),
  families: fc.constantFrom<ReadonlyArray<"ipv4" | "ipv6">>(["ipv4"], ["ipv6"], ["ipv4", "ipv6"], ["ipv6", "ipv4"]),
  gracefulRestart: fc.record({ enabled: fc.boolean(), restartTimeSeconds: fc.constant(120), restarting: fc.boolean(), forwardingPreserved: fc.boolean() }),
  passive: fc.boolean(),
}).map(({ peerKind, localAsn, ...rest }) => ({
  ...baseConfig,
  ...rest,
  localAsn,
  peerAsn: peerKind === "ebgp" ? 65001 : peerKind === "ebgp4" ? 4_200_000_001 : peerKind === "ibgp" ? localAsn : peerKind,
}))

export const arbCommand = (config: SessionConfig): fc.Arbitrary<Command> => {
  const pick = fc.nat({ max: 5 })
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant({ k: "ManualStart" } as const) },
    { weight: 1, arbitrary: fc.option(fc.constantFrom(2, 4), { nil: undefined }).map((subcode): Command => ({ k: "ManualStop", ...(subcode === undefined ? {} : { subcode }) })) },
    { weight: 1, arbitrary: fc.constant({ k: "AutomaticStart" } as const) },
    { weight: 4, arbitrary: fc.constant({ k: "TcpConnected", stale: false } as const) },
    { weight: 1, arbitrary: fc.constant({ k: "TcpConnected", stale: true } as const) },
    { weight: 1, arbitrary: fc.boolean().map((stale): Command => ({ k: "TcpConnectFailed", stale })) },
    { weight: 2, arbitrary: fc.constant({ k: "Incoming" } as const) },
    { weight: 1, arbitrary: pick.map((p): Command => ({ k: "TcpClosed", pick: p })) },
    { weight: 5, arbitrary: fc.record({ pick, message: arbMessage(config) }).map((r): Command => ({ k: "Message", ...r })) },
    { weight: 12, arbitrary: fc.record({ pick, open: arbOpen(config) }).map((r): Command => ({ k: "Expected", ...r })) },
    { weight: 1, arbitrary: pick.map((p): Command => ({ k: "DecodeFailed", pick: p })) },
    { weight: 5, arbitrary: fc.nat({ max: 7 }).map((p): Command => ({ k: "Fire", pick: p })) },
    { weight: 1, arbitrary: fc.constant({ k: "BfdDown" } as const) },
    { weight: 2, arbitrary: fc.nat({ max: 2 }).map((count): Command => ({ k: "SendUpdates", count })) },
  )
}

/** A configuration and a command sequence for it. */
export const arbScenario = arbConfig.chain((config) =>
  fc.record({
    config: fc.constant(config),
    // Most sequences start the session: the interesting states all lie beyond ManualStart.
    commands: fc.tuple(fc.nat({ max: 9 }).map((n) => n > 0), fc.array(arbCommand(config), { minLength: 1, maxLength: 60, size: "max" })).map(([start, rest]) =>
      start ? [{ k: "ManualStart" } as const, ...rest] : rest
    ),
  })
)

/** The connection `pick` aims at: a live one, or (pick 0, or none live) one never used. */
const target = (d: Driver, pick: number): ConnectionId => {
  const live = d.state.connections
  return pick === 0 ? 10_000 : live[pick % live.length]?.id ?? 10_000 + pick
}

/** The input a command means in the driver's current state. */
export const inputFor = (d: Driver, command: Command): SessionInput => {
  switch (command.k) {
    case "ManualStart":
    case "AutomaticStart":
    case "BfdDown":
      return { _tag: command.k }
    case "ManualStop":
      return { _tag: "ManualStop", ...(command.subcode === undefined ? {} : { ceaseSubcode: command.subcode }) }
    case "TcpConnected": {
      const attempt = command.stale || d.state.dialAttempt === undefined ? d.state.nextAttempt + 5 : d.state.dialAttempt
      return { _tag: "TcpConnected", attempt, connection: d.newConnectionId() }
    }
    case "TcpConnectFailed":
      return { _tag: "TcpConnectFailed", attempt: command.stale || d.state.dialAttempt === undefined ? 0 : d.state.dialAttempt }
    case "Incoming":
      return { _tag: "IncomingConnection", connection: d.newConnectionId() }
    case "TcpClosed":
      return { _tag: "TcpClosed", connection: target(d, command.pick) }
    case "Message":
      return { _tag: "MessageReceived", connection: target(d, command.pick), message: command.message }
    case "Expected": {
      const connection = target(d, command.pick)
      const c = d.state.connections.find((live) => live.id === connection)
      return { _tag: "MessageReceived", connection, message: c?.state === "OpenSent" ? command.open : keepalive }
    }
    case "DecodeFailed":
      return { _tag: "DecodeFailed", connection: target(d, command.pick), notification: { _tag: "Notification", code: 1, subcode: 2, data: Uint8Array.of(0, 3) } }
    case "Fire": {
      const live = [...d.timers.values()]
      const t = command.pick === 0 ? undefined : live[command.pick % live.length]
      return t === undefined ? { _tag: "TimerExpired", timer: "Hold", token: 1_000_000 + command.pick } : { _tag: "TimerExpired", timer: t.timer, token: t.token }
    }
    case "SendUpdates":
      return { _tag: "SendUpdates", updates: Array.from({ length: command.count }, () => emptyUpdate) }
  }
}

export const run = (config: SessionConfig, commands: ReadonlyArray<Command>): Driver => {
  const d = new Driver(config)
  for (const command of commands) d.feed(inputFor(d, command))
  return d
}
