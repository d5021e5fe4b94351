// Finding an unnumbered peer from its Router Advertisement: a valid RA (as FRR's zebra sends it) gives
// its link-local source; each RFC 4861 §6.1.2 check refuses the frame that breaks it; the solicitation
// we send is a well-formed RS; and the decoder never throws on random or mutated frames (fuzz).
import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { allRoutersAddress, icmpv6RouterSolicitation, isLinkLocal, routerAdvertisementFrame, routerAdvertisementSource, routerSolicitationFrame } from "../../../core/bgp/router-discovery.ts"
import { decodeEthernet, encodeEthernet, ethertypeIpv6 } from "../../../core/l2/ethernet.ts"
import { allNodesAddress, decodeIpv6, encodeIpv6, icmpv6Checksum, icmpv6ChecksumValid, multicastMacOf, nextHeaderIcmpv6 } from "../../../core/l2/ipv6.ts"
import type { Mac } from "../../../core/l2/mac.ts"
import type { Address } from "../../../core/net/address.ts"

const routerLinkLocal: Address = { family: "ipv6", value: 0xfe80_0000_0000_0000_0200_00ff_fe00_0001n }
const routerMac = "02:00:00:00:00:01" as Mac
const ourMac = "02:00:00:00:00:02" as Mac

interface RaFields {
  readonly source?: Address
  readonly hopLimit?: number
  readonly type?: number
  readonly code?: number
  readonly length?: number
  readonly corruptChecksum?: boolean
  readonly ethertype?: number
}

/** A Router Advertisement frame: router lifetime 1800 s, a source link-layer address option. */
const raFrame = (fields: RaFields = {}): Uint8Array => {
  const source = fields.source ?? routerLinkLocal
  const message = new Uint8Array(fields.length ?? 24)
  message[0] = fields.type ?? 134
  message[1] = fields.code ?? 0
  message[4] = 64 // cur hop limit
  message[6] = 0x07
  message[7] = 0x08 // router lifetime 1800
  if (message.length >= 24) message.set([1, 1, 2, 0, 0, 0, 0, 1], 16)
  const checksum = icmpv6Checksum(source, allNodesAddress, message) ^ (fields.corruptChecksum === true ? 0x1 : 0)
  message[2] = checksum >> 8
  message[3] = checksum & 0xff
  const packet = encodeIpv6({ trafficClass: 0, flowLabel: 0, nextHeader: nextHeaderIcmpv6, hopLimit: fields.hopLimit ?? 255, source, destination: allNodesAddress, payload: message })
  return encodeEthernet({ dst: multicastMacOf(allNodesAddress), src: routerMac, ethertype: fields.ethertype ?? ethertypeIpv6, payload: packet })
}

const refused = (frame: Uint8Array): string => {
  const result = routerAdvertisementSource(frame)
  if (Result.isSuccess(result)) throw new Error("accepted")
  return result.failure
}

describe("router discovery for BGP unnumbered", () => {
  it("takes the link-local source of a valid Router Advertisement", () => {
    expect(routerAdvertisementSource(raFrame())).toEqual(Result.succeed(routerLinkLocal))
    // The minimum RA (no options) is accepted too.
    expect(Result.isSuccess(routerAdvertisementSource(raFrame({ length: 16 })))).toBe(true)
  })

  it("refuses frames RFC 4861 §6.1.2 would not accept, saying why", () => {
    expect(refused(raFrame({ hopLimit: 254 }))).toBe("hop limit 254: a Router Advertisement must arrive with 255")
    expect(refused(raFrame({ code: 1 }))).toBe("ICMP code 1 (must be 0)")
    expect(refused(raFrame({ length: 12 }))).toBe("12 octets (a Router Advertisement has at least 16)")
    expect(refused(raFrame({ corruptChecksum: true }))).toBe("bad ICMPv6 checksum")
    expect(refused(raFrame({ source: { family: "ipv6", value: 0x2001_0db8_0000_0000_0000_0000_0000_0001n } }))).toBe("the source is not a link-local address")
    expect(refused(raFrame({ type: 135 }))).toBe("ICMPv6 type 135 is not a Router Advertisement")
    expect(refused(raFrame({ ethertype: 0x0800 }))).toBe("ethertype 2048 is not IPv6")
  })

  it("solicits from the unspecified address to all routers, hop limit 255, valid checksum", () => {
    const ethernet = decodeEthernet(routerSolicitationFrame(ourMac))
    if (Result.isFailure(ethernet)) throw ethernet.failure
    expect(ethernet.success).toMatchObject({ dst: "33:33:00:00:00:02", src: ourMac, ethertype: ethertypeIpv6 })
    const ip = decodeIpv6(ethernet.success.payload)
    if (Result.isFailure(ip)) throw ip.failure
    expect(ip.success).toMatchObject({ hopLimit: 255, nextHeader: 58, source: { family: "ipv6", value: 0n }, destination: allRoutersAddress })
    expect(ip.success.payload[0]).toBe(icmpv6RouterSolicitation)
    expect(ip.success.payload.length).toBe(8)
    expect(icmpv6ChecksumValid(ip.success.source, ip.success.destination, ip.success.payload)).toBe(true)
    // Not mistaken for an advertisement.
    expect(Result.isFailure(routerAdvertisementSource(routerSolicitationFrame(ourMac)))).toBe(true)
  })

  it("advertises from our link-local address with Router Lifetime 0 and our MAC, as a valid RA", () => {
    const ours: Address = { family: "ipv6", value: 0xfe80_0000_0000_0000_0000_00ff_fe00_0002n }
    const frame = routerAdvertisementFrame(ourMac, ours)
    // What we send passes the same checks we apply to the neighbour's.
    expect(routerAdvertisementSource(frame)).toEqual(Result.succeed(ours))
    const ethernet = decodeEthernet(frame)
    if (Result.isFailure(ethernet)) throw ethernet.failure
    expect(ethernet.success).toMatchObject({ dst: "33:33:00:00:00:01", src: ourMac })
    const ip = decodeIpv6(ethernet.success.payload)
    if (Result.isFailure(ip)) throw ip.failure
    expect(ip.success.destination).toEqual(allNodesAddress)
    const message = ip.success.payload
    // Router Lifetime (octets 6-7) 0: not a default router.
    expect([message[6], message[7]]).toEqual([0, 0])
    // Source link-layer address option: type 1, length 1, the MAC.
    expect([...message.subarray(16, 24)]).toEqual([1, 1, 2, 0, 0, 0, 0, 2])
  })

  it("knows fe80::/10 from other addresses", () => {
    expect(isLinkLocal(routerLinkLocal)).toBe(true)
    expect(isLinkLocal({ family: "ipv6", value: 0xfebf_ffff_0000_0000_0000_0000_0000_0000n })).toBe(true)
    expect(isLinkLocal({ family: "ipv6", value: 0xfec0_0000_0000_0000_0000_0000_0000_0000n })).toBe(false)
    expect(isLinkLocal({ family: "ipv4", value: 0xa9fe0001n })).toBe(false)
  })

  it("fuzz: random frames and mutated advertisements never throw; an accepted frame names a link-local source (30,000)", { timeout: 120_000 }, () => {
    const check = (frame: Uint8Array) => {
      const result = routerAdvertisementSource(frame)
      if (Result.isSuccess(result)) expect(isLinkLocal(result.success)).toBe(true)
      else expect(typeof result.failure).toBe("string")
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 10_000 })
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), (flips, cut) => {
        const frame = raFrame()
        for (const [at, mask] of flips) frame[at % frame.length] = (frame[at % frame.length] ?? 0) ^ mask
        check(frame)
        check(frame.subarray(0, cut % (frame.length + 1)))
      }),
      { numRuns: 20_000 },
    )
  })
})
