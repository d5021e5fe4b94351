// How an unnumbered BGP session finds its neighbour: the way FRR does, from the neighbour's IPv6
// Router Advertisements (RFC 4861 §4.2) on the interface. FRR enables RAs on every interface with a
// `neighbor <interface> interface` peer and answers Router Solicitations, so the speaker sends a
// solicitation (from the unspecified address, which needs no address of ours and carries no
// link-layer option, §4.1) and takes the link-local source of the advertisement that comes back (or
// of the next periodic one) as the address to dial. A frame counts only if RFC 4861 §6.1.2 would
// accept it: Hop Limit 255 (it was not forwarded), ICMP code 0, at least 16 octets, a valid
// checksum, and a link-local source. Anything else is not a router on this link. FRR accepts a
// connection on an interface peer only from a neighbour it has heard advertise (it refuses ours as
// "not configured" until then), so the speaker advertises too: from its link-local address, with
// Router Lifetime 0 (RFC 4861 §4.2: not a default router; nobody routes through the speaker for it)
// and the source link-layer address option.
import { Result } from "effect"
import { type Address } from "../net/address.ts"
import { decodeEthernet, encodeEthernet, ethertypeIpv6 } from "../l2/ethernet.ts"
import { allNodesAddress, decodeIpv6, encodeIpv6, icmpv6Checksum, icmpv6ChecksumValid, multicastMacOf, nextHeaderIcmpv6, unspecifiedAddress } from "../l2/ipv6.ts"
import { type Mac, writeMac } from "../l2/mac.ts"

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

/** A Router Advertisement from `source` (our link-local address) to all nodes: lifetime 0, our MAC. */
export const routerAdvertisementFrame = (mac: Mac, source: Address): Uint8Array => {
  // Type, code, checksum, cur hop limit, flags, router lifetime (0), reachable time, retrans timer,
  // then the source link-layer address option (type 1, length 1 = 8 octets).
  const message = new Uint8Array(24)
  message[0] = icmpv6RouterAdvertisement
  message[16] = 1
  message[17] = 1
  writeMac(mac, message, 18)
  const checksum = icmpv6Checksum(source, allNodesAddress, message)
  message[2] = checksum >> 8
  message[3] = checksum & 0xff
  return icmpv6Frame(mac, source, allNodesAddress, message)
}

const icmpv6Frame = (mac: Mac, source: Address, destination: Address, message: Uint8Array): Uint8Array =>
  encodeEthernet({
    dst: multicastMacOf(destination),
    src: mac,
    ethertype: ethertypeIpv6,
    payload: encodeIpv6({ trafficClass: 0, flowLabel: 0, nextHeader: nextHeaderIcmpv6, hopLimit: ndpHopLimit, source, destination, payload: message }),
  })

/** A Router Solicitation from the unspecified address to all routers, sent from `mac`. */
export const routerSolicitationFrame = (mac: Mac): Uint8Array => {
  // Type, code, checksum, 4 reserved octets; no options (none is allowed from ::, §4.1).
  const message = new Uint8Array(8)
  message[0] = icmpv6RouterSolicitation
  const checksum = icmpv6Checksum(unspecifiedAddress, allRoutersAddress, message)
  message[2] = checksum >> 8
  message[3] = checksum & 0xff
  return icmpv6Frame(mac, unspecifiedAddress, allRoutersAddress, message)
}
