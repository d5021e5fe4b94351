// The simulator sends a frame only to the hosts that can act on it (shell/sim/frame-audience.ts). For the
// speakers that rests on the production responder: on a frame sent to clients only it must reply nothing
// and report nothing the L2 plane acts on but a Conflict for the address the frame claims (the world also
// delivers the frame to the speakers that own that address), whatever the receiver owns.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { encodeFrame, type Frame } from "../../../core/l2/frame.ts"
import { broadcastMac } from "../../../core/l2/mac.ts"
import { applyOwnership, emptyResponder, respondToBytes, type ResponderState } from "../../../core/l2/responder.ts"
import type { Address } from "../../../core/net/address.ts"
import { frameAudience } from "../../../shell/sim/frame-audience.ts"
import { arpFrameArb, frameArb } from "../../core/l2/arbitraries.ts"
import { eth0 } from "../../core/l2/fixtures.ts"

/** A receiver that owns every address the frame names, on the interface it arrives on: the worst case. */
const owning = (frame: Frame): ResponderState => {
  const named: ReadonlyArray<Address> = frame._tag === "ArpFrame" ? [frame.arp.senderIp, frame.arp.targetIp] : [frame.ndp.target, frame.ip.source]
  return named.reduce((state, address) => applyOwnership(state, { _tag: "OwnershipChanged", address, iface: eth0, owned: true, nowMs: 0 }), emptyResponder)
}

/** Gratuitous forms of an ARP frame: a broadcast request for the sender's own address, and replies. */
const gratuitousArb = arpFrameArb.map((f): Frame => ({
  ...f,
  ethernet: { ...f.ethernet, dst: broadcastMac },
  arp: { ...f.arp, operation: "request", targetIp: f.arp.senderIp },
}))

describe("frame audience", () => {
  it("a speaker's responder neither answers nor is moved by any frame sent to clients only (property)", () => {
    fc.assert(
      fc.property(fc.oneof(frameArb, gratuitousArb), fc.boolean(), (frame, owns) => {
        const bytes = encodeFrame(frame)
        const audience = frameAudience(bytes)
        expect(audience.speakers || audience.clients).toBe(true)
        if (audience.speakers) return
        const response = respondToBytes(owns ? owning(frame) : emptyResponder, bytes, eth0)
        expect(response.replies).toEqual([])
        expect(response.reason._tag).not.toBe("Answered")
        if (response.reason._tag === "Conflict") expect(response.reason.address).toEqual(audience.claims)
      }),
      { numRuns: 5_000 },
    )
  })

  it("requests go to the speakers, announcements and replies to the clients", () => {
    const v4 = (last: number): Address => ({ family: "ipv4", value: 0xc6336400n + BigInt(last) })
    const arp = (operation: "request" | "reply", sender: number, target: number): Frame => ({
      _tag: "ArpFrame",
      ethernet: { dst: broadcastMac, src: eth0.mac },
      arp: { operation, senderMac: eth0.mac, senderIp: v4(sender), targetMac: broadcastMac, targetIp: v4(target) },
    })
    const who = (bytes: Uint8Array) => {
      const { speakers, clients } = frameAudience(bytes)
      return { speakers, clients }
    }
    expect(who(encodeFrame(arp("request", 200, 10)))).toEqual({ speakers: true, clients: false })
    // An RFC 5227 probe asks even for 0.0.0.0.
    expect(who(encodeFrame(arp("request", 0, 10)))).toEqual({ speakers: true, clients: false })
    expect(who(encodeFrame(arp("request", 10, 10)))).toEqual({ speakers: false, clients: true })
    expect(who(encodeFrame(arp("reply", 10, 200)))).toEqual({ speakers: false, clients: true })
    // A claim names its address, so the speakers that own it see it too (their announcer answers a Conflict).
    expect(frameAudience(encodeFrame(arp("request", 10, 10))).claims).toEqual(v4(10))
    expect(frameAudience(encodeFrame(arp("reply", 10, 200))).claims).toEqual(v4(10))
    expect(frameAudience(encodeFrame(arp("request", 200, 10))).claims).toBeUndefined()
    // Bytes that decode as nothing: every host gets them (a speaker counts them as malformed).
    expect(who(new Uint8Array([1, 2, 3]))).toEqual({ speakers: true, clients: true })
  })
})
