// How an unnumbered BGP session finds its neighbour: the way FRR does, from the neighbour's IPv6
// Router Advertisements (RFC 4861 §4.2) on the interface. FRR enables RAs on every interface with a
// `neighbor <interface> interface` peer and answers Router Solicitations, so the speaker sends a
// solicitation (from the unspecified address, which needs no address of ours and carries no
// link-layer option, §4.1) and takes the link-local source of the advertisement that comes back (or
// of the next periodic one) as the address to dial. A frame counts only if RFC 4861 §6.1.2 would
// accept it: Hop Limit 255 (it was not forwarded), ICMP code 0, at least 16 octets, a valid
// checksum, and a link-local source. Anything else is not a router on this link.
import { Result } from "effect"
import { type Address } from "../net/address.ts"
import { decodeEthernet, encodeEthernet, ethertypeIpv6 } from "../l2/ethernet.ts"
import { decodeIpv6, encodeIpv6, icmpv6Checksum, icmpv6ChecksumValid, multicastMacOf, nextHeaderIcmpv6, unspecifiedAddress } from "../l2/ipv6.ts"
import type { Mac } from "../l2/mac.ts"

export const icmpv6RouterSolicitation = 133
export const icmpv6RouterAdvertisement = 134
const ndpHopLimit = 255
const routerAdvertisementMinBytes = 16

/** ff02::2, every router on the link (RFC 4291 §2.7.1). */
export const allRoutersAddress: Address = { family: "ipv6", value: 0xff02_0000_0000_0000_0000_0000_0000_0002n }

/** fe80::/10 (RFC 4291 §2.5.6). */
export const isLinkLocal = (address: Address): boolean => address.family === "ipv6" && address.value >> 118n === 0x3fan

/** The sender of a valid Router Advertisement in this Ethernet frame, or why the frame is not one. */
export const routerAdvertisementSource = (frame: Uint8Array): Result.Result<Address, string> => {
  const ethernet = decodeEthernet(frame)
  if (Result.isFailure(ethernet)) return Result.fail(ethernet.failure.message)
  if (ethernet.success.ethertype !== ethertypeIpv6) return Result.fail(`ethertype ${ethernet.success.ethertype} is not IPv6`)
  const ip = decodeIpv6(ethernet.success.payload)
  if (Result.isFailure(ip)) return Result.fail(ip.failure.message)
  const { nextHeader, hopLimit, source, destination, payload } = ip.success
  if (nextHeader !== nextHeaderIcmpv6) return Result.fail(`next header ${nextHeader} is not ICMPv6`)
  if (payload[0] !== icmpv6RouterAdvertisement) return Result.fail(`ICMPv6 type ${payload[0] ?? "missing"} is not a Router Advertisement`)
  if (hopLimit !== ndpHopLimit) return Result.fail(`hop limit ${hopLimit}: a Router Advertisement must arrive with 255`)
  if (payload[1] !== 0) return Result.fail(`ICMP code ${payload[1] ?? "missing"} (must be 0)`)
  if (payload.length < routerAdvertisementMinBytes) return Result.fail(`${payload.length} octets (a Router Advertisement has at least 16)`)
  if (!isLinkLocal(source)) return Result.fail("the source is not a link-local address")
  if (!icmpv6ChecksumValid(source, destination, payload)) return Result.fail("bad ICMPv6 checksum")
  return Result.succeed(source)
}

/** A Router Solicitation from the unspecified address to all routers, sent from `mac`. */
export const routerSolicitationFrame = (mac: Mac): Uint8Array => {
  // Type, code, checksum, 4 reserved octets; no options (none is allowed from ::, §4.1).
  const message = new Uint8Array(8)
  message[0] = icmpv6RouterSolicitation
  const checksum = icmpv6Checksum(unspecifiedAddress, allRoutersAddress, message)
  message[2] = checksum >> 8
  message[3] = checksum & 0xff
  const packet = encodeIpv6({
    trafficClass: 0,
    flowLabel: 0,
    nextHeader: nextHeaderIcmpv6,
    hopLimit: ndpHopLimit,
    source: unspecifiedAddress,
    destination: allRoutersAddress,
    payload: message,
  })
  return encodeEthernet({ dst: multicastMacOf(allRoutersAddress), src: mac, ethertype: ethertypeIpv6, payload: packet })
}
