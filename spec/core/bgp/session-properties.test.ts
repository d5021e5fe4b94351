// Properties of the session FSM over random configurations and random input sequences drawn from the
// whole input union (plausible and broken OPENs, every other message type, decode failures, timer
// firings live and stale, dials live and stale, incoming connections, BFD, start/stop). Each property
// checks every step of every sequence; counters make sure the interesting steps actually occur.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { errorCode, type Notification } from "../../../core/bgp/messages.ts"
import type { CloseReason, SessionOutput } from "../../../core/bgp/session/outputs.ts"
import { runningTimers, type Session, stateOf } from "../../../core/bgp/session/state.ts"
import { arbScenario, type Command, Driver, inputFor, type Step } from "./session-harness.ts"
import type { SessionConfig } from "../../../core/bgp/session/config.ts"

const numRuns = 1000

/** Runs a scenario, calling `check` after every step. */
const walk = (config: SessionConfig, commands: ReadonlyArray<Command>, check: (step: Step, d: Driver) => void): Driver => {
  const d = new Driver(config)
  for (const command of commands) {
    d.feed(inputFor(d, command))
    const last = d.log.at(-1)
    if (last !== undefined) check(last, d)
  }
  return d
}

/** The NOTIFICATION a close with this reason must follow, or undefined when none may be sent. */
const expectedNotice = (reason: CloseReason): ((n: Notification) => boolean) | undefined => {
  switch (reason._tag) {
    case "ManualStop":
      return (n) => n.code === errorCode.Cease
    case "HoldTimerExpired":
      return (n) => n.code === errorCode.HoldTimerExpired && n.subcode === 0
    case "ProtocolError":
      return (n) => n === reason.notification
    case "CollisionResolution":
    case "Replaced":
      return (n) => n.code === errorCode.Cease && n.subcode === 7
    case "Refused":
      return (n) => n.code === errorCode.Cease && n.subcode === 5
    case "NotificationReceived":
    case "TransportClosed":
    case "BfdDown":
    case "Stale":
      return undefined
  }
}

const noticeIndex = (outputs: ReadonlyArray<SessionOutput>, connection: number): number =>
  outputs.findIndex((o) => o._tag === "Send" && o.connection === connection && o.message._tag === "Notification")

describe("session FSM properties", () => {
  it("is total and deterministic: the same inputs give the same states and outputs", () => {
    fc.assert(
      fc.property(arbScenario, ({ config, commands }) => {
        const a = walk(config, commands, () => {})
        const b = walk(config, commands, () => {})
        expect(b.log.map((s) => s.outputs)).toEqual(a.log.map((s) => s.outputs))
        expect(b.state).toEqual(a.state)
      }),
      { numRuns },
    )
  })

  it("is never Established on a connection without an OPEN and then a KEEPALIVE received on it", () => {
    let ups = 0
    fc.assert(
      fc.property(arbScenario, ({ config, commands }) => {
        const openAccepted = new Set<number>()
        walk(config, commands, ({ input, before, after, outputs }) => {
          for (const c of after.connections) {
            const was = before.connections.find((b) => b.id === c.id)
            if (c.state === "OpenConfirm" && was?.state === "OpenSent") {
              expect(input).toMatchObject({ _tag: "MessageReceived", connection: c.id, message: { _tag: "Open" } })
              openAccepted.add(c.id)
            }
            if (c.state === "Established" && was?.state !== "Established") {
              expect(was?.state).toBe("OpenConfirm")
              expect(openAccepted.has(c.id)).toBe(true)
              expect(input).toMatchObject({ _tag: "MessageReceived", connection: c.id, message: { _tag: "Keepalive" } })
              expect(outputs).toContainEqual(expect.objectContaining({ _tag: "SessionUp", connection: c.id }))
              ups++
            }
          }
          const upCount = outputs.filter((o) => o._tag === "SessionUp").length
          expect(upCount).toBe(stateOf(after) === "Established" && stateOf(before) !== "Established" ? 1 : 0)
        })
      }),
      { numRuns },
    )
    expect(ups).toBeGreaterThan(30)
  })

  it("sends the due NOTIFICATION before every close caused by an error, and nothing after a close", () => {
    let errorCloses = 0
    fc.assert(
      fc.property(arbScenario, ({ config, commands }) => {
        const closed = new Set<number>()
        walk(config, commands, ({ before, after, outputs }) => {
          outputs.forEach((o, i) => {
            if (o._tag === "Send") expect(closed.has(o.connection)).toBe(false)
            if (o._tag !== "CloseConnection") return
            const notice = expectedNotice(o.reason)
            const at = noticeIndex(outputs, o.connection)
            if (notice === undefined) {
              expect(at).toBe(-1)
            } else {
              expect(at).toBeGreaterThanOrEqual(0)
              expect(at).toBeLessThan(i)
              const sent = outputs[at]
              expect(sent?._tag === "Send" && sent.message._tag === "Notification" && notice(sent.message)).toBe(true)
              if (o.reason._tag === "ProtocolError" || o.reason._tag === "HoldTimerExpired") errorCloses++
            }
            closed.add(o.connection)
          })
          // Every connection that disappears was closed in the same step, and reported down if Established.
          for (const c of before.connections) {
            if (after.connections.some((a) => a.id === c.id)) continue
            expect(outputs).toContainEqual(expect.objectContaining({ _tag: "CloseConnection", connection: c.id }))
            if (c.state === "Established") expect(outputs).toContainEqual(expect.objectContaining({ _tag: "SessionDown", connection: c.id }))
          }
        })
      }),
      { numRuns },
    )
    expect(errorCloses).toBeGreaterThan(30)
  })

  it("a Hold timer expiry closes its connection after NOTIFICATION 4; with no other connection the session is Idle", () => {
    let expiries = 0
    fc.assert(
      fc.property(arbScenario, ({ config, commands }) => {
        walk(config, commands, ({ input, before, after, outputs }) => {
          if (input._tag !== "TimerExpired" || input.timer !== "Hold") return
          const c = before.connections.find((b) => b.holdTimer === input.token)
          if (c === undefined) {
            expect(outputs).toEqual([])
            return
          }
          expiries++
          expect(after.connections.some((a) => a.id === c.id)).toBe(false)
          const close = outputs.findIndex((o) => o._tag === "CloseConnection" && o.connection === c.id)
          const notice = noticeIndex(outputs, c.id)
          expect(notice).toBeGreaterThanOrEqual(0)
          expect(notice).toBeLessThan(close)
          expect(outputs[notice]).toMatchObject({ message: { code: 4, subcode: 0 } })
          if (after.connections.length === 0) expect(stateOf(after)).toBe("Idle")
        })
      }),
      { numRuns },
    )
    expect(expiries).toBeGreaterThan(30)
  })

  it("runs exactly the timers the outputs armed, and only those RFC 4271 allows in each state", () => {
    fc.assert(
      fc.property(arbScenario, ({ config, commands }) => {
        walk(config, commands, ({ after }, d) => {
          expect(d.timerErrors).toEqual([])
          const model = [...d.timers.values()].sort((a, b) => a.token - b.token)
          expect(model).toEqual([...runningTimers(after)].sort((a, b) => a.token - b.token))
          checkAllowedTimers(after)
        })
      }),
      { numRuns },
    )
  })

  it("keeps at most one connection per direction and at most one past OpenSent; SessionUp and SessionDown alternate", () => {
    fc.assert(
      fc.property(arbScenario, ({ config, commands }) => {
        let up: number | undefined
        walk(config, commands, ({ after, outputs }) => {
          const cs = after.connections
          expect(cs.filter((c) => c.direction === "outgoing").length).toBeLessThanOrEqual(1)
          expect(cs.filter((c) => c.direction === "incoming").length).toBeLessThanOrEqual(1)
          expect(cs.filter((c) => c.state !== "OpenSent").length).toBeLessThanOrEqual(1)
          for (const o of outputs) {
            if (o._tag === "SessionDown") {
              expect(up).toBe(o.connection)
              up = undefined
            } else if (o._tag === "SessionUp") {
              expect(up).toBeUndefined()
              up = o.connection
            }
          }
          expect(up !== undefined).toBe(stateOf(after) === "Established")
        })
      }),
      { numRuns },
    )
  })
})

/**
 * RFC 4271 §8: ConnectRetry runs in Connect and Active (not for a passive session, which never dials),
 * IdleHold only in Idle, a connection's hold timer in OpenSent, OpenConfirm and Established (not when
 * the negotiated hold time is 0), its keepalive timer only once an OPEN was accepted.
 */
const checkAllowedTimers = (s: Session): void => {
  const state = stateOf(s)
  const noConnections = s.connections.length === 0
  if (s.connectRetryTimer !== undefined) {
    expect(noConnections && (s.phase === "Connect" || (s.phase === "Active" && !s.config.passive))).toBe(true)
  }
  if (noConnections && s.phase === "Connect") {
    expect(s.connectRetryTimer).toBeDefined()
    expect(s.dialAttempt).toBeDefined()
  }
  if (s.idleHoldTimer !== undefined) expect(state).toBe("Idle")
  if (state === "Idle") {
    expect(s.idleHoldTimer !== undefined).toBe(s.enabled)
    expect(s.dialAttempt).toBeUndefined()
  }
  for (const c of s.connections) {
    if (c.state === "OpenSent") {
      expect(c.holdTimer).toBeDefined()
      expect(c.keepaliveTimer).toBeUndefined()
    } else {
      const negotiatedTimers = c.negotiated.holdTimeSeconds > 0
      expect(c.holdTimer !== undefined).toBe(negotiatedTimers)
      expect(c.keepaliveTimer !== undefined).toBe(negotiatedTimers)
    }
  }
}
