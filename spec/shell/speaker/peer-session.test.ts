// From a resolved Peer to the session FSM's configuration, the FRR way: families from the peer
// address (both with dualStackAddressFamily), localASN over myASN, dynamic ASNs, router ID fallback,
// timers passed through, and refusals for what cannot run (no router ID, a hold time the FSM refuses).
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { familiesOf, isExternal, localAsnOf, sessionConfigFor } from "../../../core/speaker/session-config.ts"
import { defaultConnectRetrySeconds } from "../../../core/speaker/settings.ts"
import { address, peer } from "./interop-support.ts"

describe("session configuration from a Peer", () => {
  it("offers the peer address's family, or both with dualStackAddressFamily (that family first)", () => {
    expect(familiesOf(peer({ name: "a", address: "192.0.2.1", myAsn: 64500, peerAsn: 64501 }))).toEqual(["ipv4"])
    expect(familiesOf(peer({ name: "a", address: "2001:db8::1", myAsn: 64500, peerAsn: 64501 }))).toEqual(["ipv6"])
    expect(familiesOf(peer({ name: "a", address: "2001:db8::1", myAsn: 64500, peerAsn: 64501, dualStackAddressFamily: true }))).toEqual(["ipv6", "ipv4"])
  })

  it("uses localASN when set, and tells eBGP from iBGP (dynamic ASNs by their kind)", () => {
    const base = { name: "a", address: "192.0.2.1", myAsn: 64500, peerAsn: 64501 }
    expect(localAsnOf(peer({ ...base, localAsn: 64510 }))).toBe(64510)
    expect(isExternal(peer(base))).toBe(true)
    expect(isExternal(peer({ ...base, peerAsn: 64500 }))).toBe(false)
    expect(isExternal(peer({ ...base, peerAsn: 64501, localAsn: 64501 }))).toBe(false)
    const { peerAsn: _, ...dynamic } = peer(base)
    expect(isExternal({ ...dynamic, dynamicAsn: "internal" })).toBe(false)
    expect(isExternal({ ...dynamic, dynamicAsn: "external" })).toBe(true)
  })

  it("builds the FSM configuration with the peer's timers and the router ID", () => {
    const made = sessionConfigFor(peer({ name: "a", address: "192.0.2.1", myAsn: 64500, peerAsn: 64501, holdTimeSeconds: 90, keepaliveTimeSeconds: 30, connectTimeSeconds: 5, enableGracefulRestart: true }), { routerId: address("192.0.2.10") })
    expect(Result.isSuccess(made) && made.success).toMatchObject({
      localAsn: 64500,
      peerAsn: 64501,
      localBgpIdentifier: 0xc000020a,
      holdTimeSeconds: 90,
      keepaliveTimeSeconds: 30,
      connectRetryTimeSeconds: 5,
      families: ["ipv4"],
      gracefulRestart: { enabled: true, restarting: false },
      passive: false,
    })
    const own = sessionConfigFor(peer({ name: "a", address: "192.0.2.1", myAsn: 64500, peerAsn: 64501, routerId: address("198.51.100.1") }), { routerId: address("192.0.2.10"), passive: true })
    expect(Result.isSuccess(own) && own.success).toMatchObject({ localBgpIdentifier: 0xc6336401, passive: true, connectRetryTimeSeconds: 2 })
    const { connectTimeSeconds: _, ...noConnect } = peer({ name: "a", address: "192.0.2.1", myAsn: 64500, peerAsn: 64501 })
    const defaulted = sessionConfigFor(noConnect, { routerId: address("192.0.2.10") })
    expect(Result.isSuccess(defaulted) && defaulted.success.connectRetryTimeSeconds).toBe(defaultConnectRetrySeconds)
  })

  it("refuses a peer without an IPv4 router ID or with a hold time the FSM refuses", () => {
    const noId = sessionConfigFor(peer({ name: "a", address: "2001:db8::1", myAsn: 64500, peerAsn: 64501 }), { routerId: address("2001:db8::10") })
    expect(Result.isFailure(noId) && noId.failure.message).toMatch(/router ID/)
    const badHold = sessionConfigFor(peer({ name: "a", address: "192.0.2.1", myAsn: 64500, peerAsn: 64501, holdTimeSeconds: 2 }), { routerId: address("192.0.2.10") })
    expect(Result.isFailure(badHold) && badHold.failure.message).toMatch(/holdTimeSeconds/)
  })
})
