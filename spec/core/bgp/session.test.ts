// Examples walking RFC 4271 §8.2.2 state by state: active and passive opens, ConnectRetry, the restart
// backoff, every OPEN rejection with its exact NOTIFICATION, hold and keepalive timers, unexpected
// messages (RFC 6608 subcodes), collisions (§6.8) both ways, ManualStop, BFD, graceful restart.
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { endOfRib, type Notification } from "../../../core/bgp/messages.ts"
import { idleHoldDelayMs, makeSession, metallbBackoff, stateOf } from "../../../core/bgp/session.ts"
import {
  baseConfig,
  bgpId,
  configWith,
  Driver,
  emptyUpdate,
  keepalive,
  notificationsIn,
  peerOpen,
  sends,
  tags,
} from "./session-harness.ts"

const note = (code: number, subcode: number, data: ReadonlyArray<number> = []): Notification => ({
  _tag: "Notification",
  code,
  subcode,
  data: Uint8Array.from(data),
})

describe("active open (RFC 4271 §8.2.2 Idle -> Connect -> OpenSent -> OpenConfirm -> Established)", () => {
  it("walks to Established with the exact outputs of each event", () => {
    const d = new Driver()
    expect(stateOf(d.state)).toBe("Idle")

    expect(d.feed({ _tag: "ManualStart" })).toEqual([
      { _tag: "Connect", attempt: 1 },
      { _tag: "StartTimer", timer: "ConnectRetry", token: 1, durationMs: 10_000 },
      { _tag: "StateChanged", from: "Idle", to: "Connect" },
    ])

    expect(d.feed({ _tag: "TcpConnected", attempt: 1, connection: 7 })).toEqual([
      { _tag: "StopTimer", timer: "ConnectRetry", token: 1 },
      {
        _tag: "Send",
        connection: 7,
        message: {
          _tag: "Open",
          asn: 65000,
          holdTimeSeconds: 90,
          bgpIdentifier: bgpId("10.0.0.1"),
          capabilities: [
            { _tag: "Multiprotocol", family: "ipv4" },
            { _tag: "Multiprotocol", family: "ipv6" },
            { _tag: "RouteRefresh" },
            { _tag: "FourOctetAsn", asn: 65000 },
          ],
        },
      },
      { _tag: "StartTimer", timer: "Hold", connection: 7, token: 2, durationMs: 240_000 },
      { _tag: "StateChanged", from: "Connect", to: "OpenSent" },
    ])

    expect(d.receive(7, peerOpen())).toEqual([
      { _tag: "Send", connection: 7, message: keepalive },
      { _tag: "StopTimer", timer: "Hold", connection: 7, token: 2 },
      { _tag: "StartTimer", timer: "Hold", connection: 7, token: 3, durationMs: 90_000 },
      { _tag: "StartTimer", timer: "Keepalive", connection: 7, token: 4, durationMs: 30_000 },
      { _tag: "StateChanged", from: "OpenSent", to: "OpenConfirm" },
    ])

    expect(d.receive(7, keepalive)).toEqual([
      { _tag: "StopTimer", timer: "Hold", connection: 7, token: 3 },
      { _tag: "StartTimer", timer: "Hold", connection: 7, token: 5, durationMs: 90_000 },
      {
        _tag: "SessionUp",
        connection: 7,
        negotiated: {
          holdTimeSeconds: 90,
          keepaliveTimeSeconds: 30,
          fourOctetAsn: true,
          families: ["ipv4", "ipv6"],
          routeRefresh: true,
          peerAsn: 65001,
          peerBgpIdentifier: bgpId("10.0.0.2"),
          extendedNextHop: false,
        },
        sendEndOfRib: [],
      },
      { _tag: "StateChanged", from: "OpenConfirm", to: "Established" },
    ])
    expect(d.timerErrors).toEqual([])
  })

  it("ConnectRetry expiry in Connect abandons the dial and dials again; the late dial is closed", () => {
    const d = new Driver()
    d.feed({ _tag: "ManualStart" })
    expect(d.fire("ConnectRetry")).toEqual([
      { _tag: "CancelConnect", attempt: 1 },
      { _tag: "Connect", attempt: 2 },
      { _tag: "StartTimer", timer: "ConnectRetry", token: 2, durationMs: 10_000 },
    ])
    expect(d.feed({ _tag: "TcpConnected", attempt: 1, connection: 3 })).toEqual([
      { _tag: "CloseConnection", connection: 3, reason: { _tag: "Stale" } },
    ])
    expect(d.feed({ _tag: "TcpConnectFailed", attempt: 1 })).toEqual([])
    expect(stateOf(d.state)).toBe("Connect")
  })

  it("a failed dial goes to Idle (Connect, event 18) and restarts after the backoff", () => {
    const d = new Driver()
    d.feed({ _tag: "ManualStart" })
    expect(d.feed({ _tag: "TcpConnectFailed", attempt: 1 })).toEqual([
      { _tag: "StopTimer", timer: "ConnectRetry", token: 1 },
      { _tag: "StartTimer", timer: "IdleHold", token: 2, durationMs: 0 },
      { _tag: "StateChanged", from: "Connect", to: "Idle" },
    ])
    expect(d.fire("IdleHold")).toEqual([
      { _tag: "Connect", attempt: 2 },
      { _tag: "StartTimer", timer: "ConnectRetry", token: 3, durationMs: 10_000 },
      { _tag: "StateChanged", from: "Idle", to: "Connect" },
    ])
  })

  it("an incoming connection while dialling goes to OpenSent; the dial may still complete as a second connection", () => {
    const d = new Driver()
    d.feed({ _tag: "ManualStart" })
    const incoming = d.incoming()
    expect(stateOf(d.state)).toBe("OpenSent")
    expect(d.running("ConnectRetry")).toBeUndefined()
    const outgoing = d.completeDial()
    expect(d.state.connections.map((c) => [c.id, c.direction, c.state])).toEqual([
      [incoming, "incoming", "OpenSent"],
      [outgoing, "outgoing", "OpenSent"],
    ])
    expect(sends(d.log.at(-1)?.outputs ?? [], outgoing)[0]?._tag).toBe("Open")
  })
})

describe("restart backoff (MetalLB: 0, 1 s, 2 s, ... doubling, capped at 2 minutes)", () => {
  it("doubles per consecutive failure and caps", () => {
    const d = new Driver()
    d.feed({ _tag: "ManualStart" })
    const delays: Array<number> = []
    for (let i = 0; i < 11; i++) {
      const attempt = d.state.dialAttempt ?? -1
      const out = d.feed({ _tag: "TcpConnectFailed", attempt })
      const start = out.find((o) => o._tag === "StartTimer" && o.timer === "IdleHold")
      delays.push(start?._tag === "StartTimer" ? start.durationMs : -1)
      d.fire("IdleHold")
    }
    expect(delays).toEqual([0, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 120_000, 120_000, 120_000])
    expect(idleHoldDelayMs(metallbBackoff, 1_000_000)).toBe(120_000)
  })

  it("resets once a session is Established, and ManualStop cancels a pending restart", () => {
    const d = new Driver()
    d.feed({ _tag: "ManualStart" })
    d.feed({ _tag: "TcpConnectFailed", attempt: 1 })
    d.fire("IdleHold")
    d.feed({ _tag: "TcpConnectFailed", attempt: 2 })
    expect(d.running("IdleHold")).toMatchObject({ token: expect.any(Number) })
    expect(d.state.consecutiveFailures).toBe(2)
    d.fire("IdleHold")
    const c = d.completeDial()
    d.receive(c, peerOpen())
    d.receive(c, keepalive)
    expect(d.state.consecutiveFailures).toBe(0)
    const out = d.feed({ _tag: "TcpClosed", connection: c })
    expect(out).toContainEqual(expect.objectContaining({ _tag: "StartTimer", timer: "IdleHold", durationMs: 0 }))
    const stop = d.feed({ _tag: "ManualStop" })
    expect(tags(stop)).toEqual(["StopTimer"])
    expect(d.running("IdleHold")).toBeUndefined()
    expect(d.feed({ _tag: "AutomaticStart" })).toContainEqual({ _tag: "Connect", attempt: 4 })
  })

  it("AutomaticStart waits for a running IdleHold; ManualStart does not", () => {
    const d = new Driver()
    d.feed({ _tag: "ManualStart" })
    d.feed({ _tag: "TcpConnectFailed", attempt: 1 })
    expect(d.feed({ _tag: "AutomaticStart" })).toEqual([])
    expect(tags(d.feed({ _tag: "ManualStart" }))).toEqual(["StopTimer", "Connect", "StartTimer", "StateChanged"])
  })
})

describe("passive sessions", () => {
  it("wait in Active without dialling or ConnectRetry, and open on the peer's connection", () => {
    const d = new Driver(configWith({ passive: true }))
    expect(d.feed({ _tag: "ManualStart" })).toEqual([{ _tag: "StateChanged", from: "Idle", to: "Active" }])
    const c = d.incoming()
    expect(sends(d.log.at(-1)?.outputs ?? [], c).map((m) => m._tag)).toEqual(["Open"])
    d.receive(c, peerOpen())
    d.receive(c, keepalive)
    expect(stateOf(d.state)).toBe("Established")
    d.feed({ _tag: "TcpClosed", connection: c })
    d.fire("IdleHold")
    expect(stateOf(d.state)).toBe("Active")
    expect(d.timers.size).toBe(0)
  })

  it("refuses connections while Idle with Cease / Connection Rejected", () => {
    const d = new Driver()
    expect(d.feed({ _tag: "IncomingConnection", connection: 4 })).toEqual([
      { _tag: "Send", connection: 4, message: note(6, 5) },
      { _tag: "CloseConnection", connection: 4, reason: { _tag: "Refused" } },
    ])
  })
})

describe("OPEN checks (RFC 4271 §6.2) answer with the exact NOTIFICATION and go to Idle", () => {
  const rejected = (open = peerOpen(), config = baseConfig): Notification | undefined => {
    const d = new Driver(config)
    const c = d.dialled()
    const out = d.receive(c, open)
    const n = notificationsIn(out, c)
    if (n.length === 0) return undefined
    expect(out).toContainEqual({ _tag: "CloseConnection", connection: c, reason: { _tag: "ProtocolError", notification: n[0] } })
    expect(stateOf(d.state)).toBe("Idle")
    return n[0]
  }

  it("Bad Peer AS carries the received 2-octet My AS", () => {
    expect(rejected(peerOpen({ asn: 65002 }))).toEqual(note(2, 2, [0xfd, 0xea]))
    expect(rejected(peerOpen({ asn: 0, capabilities: [] }))).toEqual(note(2, 2, [0, 0]))
  })

  it("4-octet ASNs come from the capability; the data is then AS_TRANS", () => {
    const config = configWith({ peerAsn: 4_200_000_000 })
    const open = (capAsn: number | undefined) =>
      peerOpen({
        asn: 23456,
        capabilities: [{ _tag: "Multiprotocol", family: "ipv4" }, ...(capAsn === undefined ? [] : [{ _tag: "FourOctetAsn" as const, asn: capAsn }])],
      })
    expect(rejected(open(4_200_000_000), config)).toBeUndefined()
    // The codec's form: Open.asn already holds the capability's ASN.
    expect(rejected(peerOpen({ asn: 4_200_000_001 }), config)).toEqual(note(2, 2, [0x5b, 0xa0]))
    expect(rejected(open(4_200_000_001), config)).toEqual(note(2, 2, [0x5b, 0xa0]))
    expect(rejected(open(undefined), config)).toEqual(note(2, 2, [0x5b, 0xa0]))
  })

  it("dynamic ASNs: internal accepts only ours, external anything else", () => {
    const internal = configWith({ peerAsn: "internal" })
    const external = configWith({ peerAsn: "external" })
    expect(rejected(peerOpen({ asn: 65000 }), internal)).toBeUndefined()
    expect(rejected(peerOpen({ asn: 65009 }), internal)).toEqual(note(2, 2, [0xfd, 0xf1]))
    expect(rejected(peerOpen({ asn: 65009 }), external)).toBeUndefined()
    expect(rejected(peerOpen({ asn: 65000 }), external)).toEqual(note(2, 2, [0xfd, 0xe8]))
  })

  it("hold time 1 or 2 is Unacceptable Hold Time; 0 and 3 are fine", () => {
    expect(rejected(peerOpen({ holdTimeSeconds: 1 }))).toEqual(note(2, 6))
    expect(rejected(peerOpen({ holdTimeSeconds: 2 }))).toEqual(note(2, 6))
    expect(rejected(peerOpen({ holdTimeSeconds: 0 }))).toBeUndefined()
    expect(rejected(peerOpen({ holdTimeSeconds: 3 }))).toBeUndefined()
  })

  it("BGP Identifier 0, or ours on iBGP, is a Bad BGP Identifier; ours on eBGP is allowed (RFC 6286)", () => {
    expect(rejected(peerOpen({ bgpIdentifier: 0 }))).toEqual(note(2, 3))
    const ibgp = configWith({ peerAsn: 65000 })
    expect(rejected(peerOpen({ asn: 65000, bgpIdentifier: bgpId("10.0.0.1") }), ibgp)).toEqual(note(2, 3))
    expect(rejected(peerOpen({ bgpIdentifier: bgpId("10.0.0.1") }))).toBeUndefined()
  })

  it("no common family is Unsupported Capability carrying the Multiprotocol capabilities we needed", () => {
    const v6 = configWith({ families: ["ipv6"] })
    expect(rejected(peerOpen({ capabilities: [{ _tag: "Multiprotocol", family: "ipv4" }] }), v6)).toEqual(note(2, 7, [1, 4, 0, 2, 0, 1]))
    // Without Multiprotocol capabilities the peer speaks IPv4 unicast only (RFC 4760).
    expect(rejected(peerOpen({ capabilities: [] }), v6)).toEqual(note(2, 7, [1, 4, 0, 2, 0, 1]))
    expect(rejected(peerOpen({ capabilities: [] }))).toBeUndefined()
  })

  it("checks in RFC order: My AS before hold time before identifier", () => {
    expect(rejected(peerOpen({ asn: 65002, holdTimeSeconds: 1, bgpIdentifier: 0 }))).toEqual(note(2, 2, [0xfd, 0xea]))
    expect(rejected(peerOpen({ holdTimeSeconds: 1, bgpIdentifier: 0 }))).toEqual(note(2, 6))
  })

  it("after a rejection the session restarts on its own after the backoff", () => {
    const d = new Driver()
    const c = d.dialled()
    const out = d.receive(c, peerOpen({ asn: 1 }))
    expect(tags(out)).toEqual(["Send", "StopTimer", "CloseConnection", "StartTimer", "StateChanged"])
    expect(out[3]).toMatchObject({ timer: "IdleHold", durationMs: 0 })
  })
})

describe("hold time and keepalives", () => {
  it("negotiates min(ours, theirs) and FRR's keepalive (hold / 3, or the configured one when smaller)", () => {
    const negotiated = (config = baseConfig, holdTimeSeconds = 90) => {
      const d = new Driver(config)
      const c = d.dialled()
      d.receive(c, peerOpen({ holdTimeSeconds }))
      const conn = d.state.connections[0]
      return conn?.state === "OpenConfirm" ? [conn.negotiated.holdTimeSeconds, conn.negotiated.keepaliveTimeSeconds] : undefined
    }
    expect(negotiated(baseConfig, 180)).toEqual([90, 30])
    expect(negotiated(baseConfig, 9)).toEqual([9, 3])
    expect(negotiated(baseConfig, 3)).toEqual([3, 1])
    expect(negotiated(configWith({ keepaliveTimeSeconds: 10 }))).toEqual([90, 10])
    expect(negotiated(configWith({ keepaliveTimeSeconds: 60 }))).toEqual([90, 30])
    expect(negotiated(configWith({ keepaliveTimeSeconds: 10 }), 9)).toEqual([9, 3])
    expect(negotiated(configWith({ holdTimeSeconds: 0 }))).toEqual([0, 0])
  })

  it("a hold time of 0 runs neither a hold timer nor keepalives once the OPEN is accepted", () => {
    const d = new Driver()
    const c = d.established(peerOpen({ holdTimeSeconds: 0 }))
    expect(stateOf(d.state)).toBe("Established")
    expect([...d.timers.values()]).toEqual([])
    expect(d.receive(c, keepalive)).toEqual([])
  })

  it("hold expiry in Established sends NOTIFICATION 4, closes, reports the session down and goes Idle", () => {
    const d = new Driver()
    const c = d.established()
    const ka = d.running("Keepalive", c)?.token
    expect(d.fire("Hold", c)).toEqual([
      { _tag: "Send", connection: c, message: note(4, 0) },
      { _tag: "StopTimer", timer: "Keepalive", connection: c, token: ka },
      { _tag: "CloseConnection", connection: c, reason: { _tag: "HoldTimerExpired" } },
      { _tag: "SessionDown", connection: c, reason: { _tag: "HoldTimerExpired" } },
      { _tag: "StartTimer", timer: "IdleHold", token: expect.any(Number), durationMs: 0 },
      { _tag: "StateChanged", from: "Established", to: "Idle" },
    ])
  })

  it("hold expiry in OpenSent (the 4-minute timer) and OpenConfirm also ends in Idle", () => {
    const d = new Driver()
    const c = d.dialled()
    expect(notificationsIn(d.fire("Hold", c), c)).toEqual([note(4, 0)])
    expect(stateOf(d.state)).toBe("Idle")
    d.fire("IdleHold")
    const c2 = d.completeDial()
    d.receive(c2, peerOpen())
    expect(notificationsIn(d.fire("Hold", c2), c2)).toEqual([note(4, 0)])
    expect(stateOf(d.state)).toBe("Idle")
  })

  it("every KEEPALIVE, UPDATE or ROUTE-REFRESH restarts the hold timer; the old timer's firing is stale", () => {
    const d = new Driver()
    const c = d.established()
    for (const m of [keepalive, emptyUpdate, { _tag: "RouteRefresh", family: "ipv6", subtype: 0 } as const]) {
      const old = d.running("Hold", c)?.token ?? -1
      const out = d.receive(c, m)
      expect(out.slice(0, 2)).toEqual([
        { _tag: "StopTimer", timer: "Hold", connection: c, token: old },
        { _tag: "StartTimer", timer: "Hold", connection: c, token: expect.any(Number), durationMs: 90_000 },
      ])
      expect(d.feed({ _tag: "TimerExpired", timer: "Hold", token: old })).toEqual([])
    }
    expect(stateOf(d.state)).toBe("Established")
  })

  it("the keepalive timer sends a KEEPALIVE and re-arms; sent UPDATEs re-arm it too", () => {
    const d = new Driver()
    const c = d.established()
    const out = d.fire("Keepalive", c)
    expect(out).toEqual([
      { _tag: "Send", connection: c, message: keepalive },
      { _tag: "StartTimer", timer: "Keepalive", connection: c, token: expect.any(Number), durationMs: 30_000 },
    ])
    expect(tags(d.feed({ _tag: "SendUpdates", updates: [emptyUpdate, endOfRib("ipv4")] }))).toEqual(["Send", "Send", "StopTimer", "StartTimer"])
  })

  it("UPDATEs to send before Established are dropped (the planner starts over on SessionUp)", () => {
    const d = new Driver()
    d.dialled()
    expect(d.feed({ _tag: "SendUpdates", updates: [emptyUpdate] })).toEqual([])
  })
})

describe("messages out of place (RFC 6608 FSM error subcodes) and NOTIFICATIONs", () => {
  it("KEEPALIVE or UPDATE in OpenSent: 5/1", () => {
    for (const m of [keepalive, emptyUpdate]) {
      const d = new Driver()
      const c = d.dialled()
      expect(notificationsIn(d.receive(c, m), c)).toEqual([note(5, 1)])
      expect(stateOf(d.state)).toBe("Idle")
    }
  })

  it("OPEN or UPDATE in OpenConfirm: 5/2", () => {
    for (const m of [peerOpen(), emptyUpdate]) {
      const d = new Driver()
      const c = d.dialled()
      d.receive(c, peerOpen())
      expect(notificationsIn(d.receive(c, m), c)).toEqual([note(5, 2)])
    }
  })

  it("OPEN in Established: 5/3, and the session goes down", () => {
    const d = new Driver()
    const c = d.established()
    const out = d.receive(c, peerOpen())
    expect(notificationsIn(out, c)).toEqual([note(5, 3)])
    expect(out).toContainEqual({ _tag: "SessionDown", connection: c, reason: { _tag: "ProtocolError", notification: note(5, 3) } })
  })

  it("a NOTIFICATION from the peer closes without answering", () => {
    const d = new Driver()
    const c = d.established()
    const cease = note(6, 2)
    const out = d.receive(c, cease)
    expect(notificationsIn(out)).toEqual([])
    expect(out).toContainEqual({ _tag: "SessionDown", connection: c, reason: { _tag: "NotificationReceived", notification: cease } })
    expect(stateOf(d.state)).toBe("Idle")
  })

  it("a decode failure sends the codec's NOTIFICATION and closes", () => {
    const d = new Driver()
    const c = d.dialled()
    const bad = note(1, 2, [0, 18])
    const out = d.feed({ _tag: "DecodeFailed", connection: c, notification: bad })
    expect(out.slice(0, 3)).toEqual([
      { _tag: "Send", connection: c, message: bad },
      expect.objectContaining({ _tag: "StopTimer", timer: "Hold" }),
      { _tag: "CloseConnection", connection: c, reason: { _tag: "ProtocolError", notification: bad } },
    ])
  })

  it("ROUTE-REFRESH asks the planner to resend a negotiated family; other families and markers are ignored", () => {
    const d = new Driver(configWith({ families: ["ipv4"] }))
    const c = d.established()
    expect(d.receive(c, { _tag: "RouteRefresh", family: "ipv4", subtype: 0 })).toContainEqual({ _tag: "RouteRefreshRequested", family: "ipv4" })
    expect(tags(d.receive(c, { _tag: "RouteRefresh", family: "ipv6", subtype: 0 }))).toEqual(["StopTimer", "StartTimer"])
    expect(tags(d.receive(c, { _tag: "RouteRefresh", family: "ipv4", subtype: 1 }))).toEqual(["StopTimer", "StartTimer"])
  })

  it("TCP closing in OpenSent falls back to Active and dials again after ConnectRetry", () => {
    const d = new Driver()
    const c = d.dialled()
    const out = d.feed({ _tag: "TcpClosed", connection: c })
    expect(out).toContainEqual(expect.objectContaining({ _tag: "StartTimer", timer: "ConnectRetry", durationMs: 10_000 }))
    expect(stateOf(d.state)).toBe("Active")
    expect(d.fire("ConnectRetry")).toContainEqual({ _tag: "Connect", attempt: 2 })
    expect(stateOf(d.state)).toBe("Connect")
  })
})

describe("ManualStop and BFD", () => {
  it("ManualStop when Established sends Cease / Administrative Shutdown, closes, and does not restart", () => {
    const d = new Driver()
    const c = d.established()
    const out = d.feed({ _tag: "ManualStop" })
    expect(notificationsIn(out, c)).toEqual([note(6, 2)])
    expect(tags(out)).toEqual(["Send", "StopTimer", "StopTimer", "CloseConnection", "SessionDown", "StateChanged"])
    expect(d.timers.size).toBe(0)
    expect(d.state.enabled).toBe(false)
  })

  it("ManualStop takes a Cease subcode and data (e.g. Administrative Reset, RFC 8203)", () => {
    const d = new Driver()
    const c = d.dialled()
    expect(notificationsIn(d.feed({ _tag: "ManualStop", ceaseSubcode: 4, data: Uint8Array.of(2, 104, 105) }), c)).toEqual([note(6, 4, [2, 104, 105])])
  })

  it("ManualStop while dialling cancels the dial and ConnectRetry", () => {
    const d = new Driver()
    d.feed({ _tag: "ManualStart" })
    expect(d.feed({ _tag: "ManualStop" })).toEqual([
      { _tag: "CancelConnect", attempt: 1 },
      { _tag: "StopTimer", timer: "ConnectRetry", token: 1 },
      { _tag: "StateChanged", from: "Connect", to: "Idle" },
    ])
  })

  it("BfdDown drops the session at once without a NOTIFICATION and restarts after the backoff", () => {
    const d = new Driver()
    const c = d.established()
    const out = d.feed({ _tag: "BfdDown" })
    expect(notificationsIn(out)).toEqual([])
    expect(out).toContainEqual({ _tag: "CloseConnection", connection: c, reason: { _tag: "BfdDown" } })
    expect(out).toContainEqual({ _tag: "SessionDown", connection: c, reason: { _tag: "BfdDown" } })
    expect(d.running("IdleHold")).toBeDefined()
    expect(d.feed({ _tag: "BfdDown" })).toEqual([])
  })
})

describe("connection collisions (RFC 4271 §6.8)", () => {
  /** Our dial and the peer's connection both in OpenSent. */
  const both = (localId: string) => {
    const d = new Driver(configWith({ localBgpIdentifier: bgpId(localId) }))
    d.feed({ _tag: "ManualStart" })
    const incoming = d.incoming()
    const outgoing = d.completeDial()
    return { d, incoming, outgoing }
  }
  const collisionCease = note(6, 7)

  it("our identifier higher: the peer's connection is closed, ours survives (OPEN on ours first)", () => {
    const { d, incoming, outgoing } = both("10.0.0.9")
    d.receive(outgoing, peerOpen())
    const out = d.receive(incoming, peerOpen())
    expect(out).toEqual([
      { _tag: "Send", connection: incoming, message: collisionCease },
      expect.objectContaining({ _tag: "StopTimer", timer: "Hold", connection: incoming }),
      { _tag: "CloseConnection", connection: incoming, reason: { _tag: "CollisionResolution" } },
    ])
    expect(d.state.connections.map((c) => [c.id, c.state])).toEqual([[outgoing, "OpenConfirm"]])
  })

  it("our identifier higher, OPEN on the peer's connection first: it is closed when ours confirms", () => {
    const { d, incoming, outgoing } = both("10.0.0.9")
    d.receive(incoming, peerOpen())
    const out = d.receive(outgoing, peerOpen())
    expect(notificationsIn(out, incoming)).toEqual([collisionCease])
    expect(sends(out, outgoing)).toEqual([keepalive])
    expect(d.state.connections.map((c) => [c.id, c.state])).toEqual([[outgoing, "OpenConfirm"]])
  })

  it("our identifier lower: our connection is closed and the peer's goes on to Established", () => {
    const { d, incoming, outgoing } = both("10.0.0.1")
    d.receive(outgoing, peerOpen())
    const out = d.receive(incoming, peerOpen())
    expect(notificationsIn(out, outgoing)).toEqual([collisionCease])
    expect(out).toContainEqual({ _tag: "CloseConnection", connection: outgoing, reason: { _tag: "CollisionResolution" } })
    expect(sends(out, incoming)).toEqual([keepalive])
    d.receive(incoming, keepalive)
    expect(stateOf(d.state)).toBe("Established")
    expect(d.log.at(-1)?.outputs).toContainEqual(expect.objectContaining({ _tag: "SessionUp", connection: incoming }))
  })

  it("equal identifiers (eBGP) fall back to the larger ASN (RFC 6286 §2.3)", () => {
    const { d, incoming, outgoing } = both("10.0.0.2")
    d.receive(outgoing, peerOpen())
    const out = d.receive(incoming, peerOpen())
    // The peer's ASN 65001 is larger than ours: its connection survives.
    expect(notificationsIn(out, outgoing)).toEqual([collisionCease])
    expect(d.state.connections.map((c) => c.id)).toEqual([incoming])
  })

  it("a connection colliding with an Established one is closed, at connect or at its OPEN", () => {
    const d = new Driver()
    d.feed({ _tag: "ManualStart" })
    const incoming = d.incoming()
    const outgoing = d.completeDial()
    d.receive(outgoing, peerOpen())
    d.receive(outgoing, keepalive)
    expect(stateOf(d.state)).toBe("Established")
    const out = d.receive(incoming, peerOpen())
    expect(notificationsIn(out, incoming)).toEqual([collisionCease])
    const late = d.newConnectionId()
    expect(d.feed({ _tag: "IncomingConnection", connection: late })).toEqual([
      { _tag: "Send", connection: late, message: collisionCease },
      { _tag: "CloseConnection", connection: late, reason: { _tag: "CollisionResolution" } },
    ])
    expect(stateOf(d.state)).toBe("Established")
  })

  it("the peer resolving first (Cease on the loser) leaves the other connection untouched", () => {
    const { d, incoming, outgoing } = both("10.0.0.1")
    d.receive(outgoing, peerOpen())
    const out = d.receive(outgoing, collisionCease)
    expect(tags(out)).toEqual(["StopTimer", "StopTimer", "CloseConnection", "StateChanged"])
    expect(stateOf(d.state)).toBe("OpenSent")
    expect(d.state.consecutiveFailures).toBe(0)
    d.receive(incoming, peerOpen())
    d.receive(incoming, keepalive)
    expect(stateOf(d.state)).toBe("Established")
  })

  it("a new connection from the peer replaces its previous one", () => {
    const d = new Driver(configWith({ passive: true }))
    d.feed({ _tag: "ManualStart" })
    const first = d.incoming()
    const second = d.incoming()
    const out = d.log.at(-1)?.outputs ?? []
    expect(out).toContainEqual({ _tag: "CloseConnection", connection: first, reason: { _tag: "Replaced" } })
    expect(d.state.connections.map((c) => c.id)).toEqual([second])
  })
})

describe("graceful restart (RFC 4724) as the restarting speaker", () => {
  const gr = configWith({ gracefulRestart: { enabled: true, restartTimeSeconds: 120, restarting: true, forwardingPreserved: true } })
  const grCapability = { _tag: "GracefulRestart", restarting: false, restartTimeSeconds: 90, families: [{ family: "ipv4", forwardingPreserved: false }] } as const

  it("advertises the R bit until Established, then asks for End-of-RIB per negotiated family", () => {
    const d = new Driver(gr)
    const c = d.dialled()
    const open = sends(d.log.at(-1)?.outputs ?? [], c)[0]
    expect(open?._tag === "Open" && open.capabilities.at(-1)).toEqual({
      _tag: "GracefulRestart",
      restarting: true,
      restartTimeSeconds: 120,
      families: [{ family: "ipv4", forwardingPreserved: true }, { family: "ipv6", forwardingPreserved: true }],
    })
    d.receive(c, peerOpen({ capabilities: [...peerOpen().capabilities, grCapability] }))
    const up = d.receive(c, keepalive).find((o) => o._tag === "SessionUp")
    expect(up).toMatchObject({ sendEndOfRib: ["ipv4", "ipv6"], negotiated: { gracefulRestart: { restarting: false, restartTimeSeconds: 90 } } })
    d.feed({ _tag: "TcpClosed", connection: c })
    d.fire("IdleHold")
    const again = d.completeDial()
    const reopen = sends(d.log.at(-1)?.outputs ?? [], again)[0]
    expect(reopen?._tag === "Open" && reopen.capabilities.at(-1)).toMatchObject({ _tag: "GracefulRestart", restarting: false })
  })

  it("no End-of-RIB request when the peer does not do graceful restart", () => {
    const d = new Driver(gr)
    const c = d.dialled()
    d.receive(c, peerOpen())
    expect(d.receive(c, keepalive).find((o) => o._tag === "SessionUp")).toMatchObject({ sendEndOfRib: [] })
  })
})

describe("configuration", () => {
  it("rejects values the FSM cannot run with", () => {
    const bad = [
      configWith({ holdTimeSeconds: 2 }),
      configWith({ localAsn: 0 }),
      configWith({ peerAsn: 2 ** 32 }),
      configWith({ localBgpIdentifier: 0 }),
      configWith({ families: [] }),
      configWith({ families: ["ipv4", "ipv4"] }),
      configWith({ connectRetryTimeSeconds: 0 }),
      configWith({ backoff: { initialDelayMs: 10, maxDelayMs: 5 } }),
      configWith({ gracefulRestart: { ...baseConfig.gracefulRestart, restartTimeSeconds: 4096 } }),
    ]
    expect(bad.map((c) => Result.isFailure(makeSession(c)))).toEqual(bad.map(() => true))
    expect(Result.isSuccess(makeSession(baseConfig))).toBe(true)
  })
})
