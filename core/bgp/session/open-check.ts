// Whether a peer's OPEN is acceptable, and what the session then runs with (RFC 4271 §6.2, in its
// order: the version is the codec's, then My AS, Hold Time, BGP Identifier, capabilities). The peer's
// ASN is the 4-octet capability's when present (RFC 6793; the codec already puts it in Open.asn, and
// either form is accepted here); it must match the configured ASN, or be equal to ours ("internal") or
// differ from it ("external"), and never be 0 (RFC 7607). An identifier of 0, or ours on an iBGP
// session, is a Bad BGP Identifier (RFC 6286 §2.2). A peer without Multiprotocol capabilities speaks
// IPv4 unicast only (RFC 4760 §8). Hold time is min(ours, theirs); the keepalive interval is FRR's: a
// third of it, or the configured keepalive when that is smaller. NOTIFICATION data: Bad Peer AS carries
// the 2-octet My AS field as received (AS_TRANS for a 4-octet ASN), as FRR sends it; Unsupported
// Capability carries the Multiprotocol capabilities we needed (RFC 5492 §5); Unacceptable Hold Time
// and Bad BGP Identifier carry none, as RFC 4271 defines none and the codec sends none for its checks.
// Extended next hop (RFC 8950) is in use only when we offered it and the peer's capability lists
// IPv4 unicast with an IPv6 next hop; without it IPv4 routes need an IPv4 next hop.
import { Result } from "effect"
import type { Family } from "../../net/address.ts"
import { afiOf, asTrans, type Capability, errorCode, ipv4OverIpv6NextHop, notification, type Notification, type Open, openSubcode, safiUnicast } from "../messages.ts"
import type { SessionConfig } from "./config.ts"
import type { Negotiated, PeerGracefulRestart } from "./outputs.ts"

const uint16 = (n: number): Uint8Array => {
  const bytes = new Uint8Array(2)
  new DataView(bytes.buffer).setUint16(0, n)
  return bytes
}

/** Multiprotocol capability TLVs (code 1, length 4: AFI, reserved, SAFI), as in the OPEN. */
const multiprotocolCapabilities = (families: ReadonlyArray<Family>): Uint8Array =>
  Uint8Array.from(families.flatMap((f) => [1, 4, afiOf(f) >> 8, afiOf(f) & 0xff, 0, safiUnicast]))

const asnAcceptable = (config: SessionConfig, peerAsn: number): boolean => {
  if (peerAsn === 0) return false
  if (config.peerAsn === "internal") return peerAsn === config.localAsn
  if (config.peerAsn === "external") return peerAsn !== config.localAsn
  return peerAsn === config.peerAsn
}

const openError = (subcode: number, data: Uint8Array): Result.Result<Negotiated, Notification> =>
  Result.fail(notification(errorCode.OpenMessage, subcode, data))

/** The keepalive interval FRR derives: hold / 3, or the configured keepalive when it is smaller. */
export const keepaliveSeconds = (negotiatedHoldSeconds: number, configuredKeepaliveSeconds: number): number => {
  const third = Math.floor(negotiatedHoldSeconds / 3)
  return configuredKeepaliveSeconds > 0 && configuredKeepaliveSeconds < third ? configuredKeepaliveSeconds : third
}

type Found<T extends Capability["_tag"]> = Extract<Capability, { _tag: T }>
const find = <T extends Capability["_tag"]>(caps: ReadonlyArray<Capability>, tag: T): Found<T> | undefined =>
  caps.find((c): c is Found<T> => c._tag === tag)

/** RFC 8950 §4: the peer accepts IPv4 unicast NLRI with an IPv6 next hop. */
const offersIpv4OverIpv6 = (caps: ReadonlyArray<Capability>): boolean =>
  caps.some((c) =>
    c._tag === "ExtendedNextHop" &&
    c.entries.some((e) => e.afi === ipv4OverIpv6NextHop.afi && e.safi === ipv4OverIpv6NextHop.safi && e.nextHopAfi === ipv4OverIpv6NextHop.nextHopAfi)
  )

export const checkOpen = (config: SessionConfig, open: Open): Result.Result<Negotiated, Notification> => {
  const caps = open.capabilities
  const fourOctet = find(caps, "FourOctetAsn")
  const peerAsn = fourOctet?.asn ?? open.asn
  const myAsField = open.asn > 0xffff ? asTrans : open.asn
  if (!asnAcceptable(config, peerAsn)) return openError(openSubcode.BadPeerAs, uint16(myAsField))
  if (open.holdTimeSeconds === 1 || open.holdTimeSeconds === 2) {
    return openError(openSubcode.UnacceptableHoldTime, new Uint8Array(0))
  }
  const ibgp = peerAsn === config.localAsn
  if (open.bgpIdentifier === 0 || (ibgp && open.bgpIdentifier === config.localBgpIdentifier)) {
    return openError(openSubcode.BadBgpIdentifier, new Uint8Array(0))
  }
  const offered = caps.flatMap((c) => (c._tag === "Multiprotocol" ? [c.family] : []))
  const peerFamilies: ReadonlyArray<Family> = offered.length === 0 ? ["ipv4"] : offered
  const families = config.families.filter((f) => peerFamilies.includes(f))
  if (families.length === 0) {
    return openError(openSubcode.UnsupportedCapability, multiprotocolCapabilities(config.families))
  }
  const holdTimeSeconds = Math.min(config.holdTimeSeconds, open.holdTimeSeconds)
  const gr = find(caps, "GracefulRestart")
  const gracefulRestart: PeerGracefulRestart | undefined = gr === undefined
    ? undefined
    : { restarting: gr.restarting, restartTimeSeconds: gr.restartTimeSeconds, families: gr.families }
  return Result.succeed({
    holdTimeSeconds,
    keepaliveTimeSeconds: keepaliveSeconds(holdTimeSeconds, config.keepaliveTimeSeconds),
    fourOctetAsn: fourOctet !== undefined,
    families,
    routeRefresh: find(caps, "RouteRefresh") !== undefined,
    ...(gracefulRestart === undefined ? {} : { gracefulRestart }),
    peerAsn,
    peerBgpIdentifier: open.bgpIdentifier,
    extendedNextHop: config.extendedNextHop === true && families.includes("ipv4") && offersIpv4OverIpv6(caps),
  })
}
