// Which hosts of the Layer 2 segment can act on a frame. Every host receives every frame on a real
// segment, but a speaker acts only on what its responder (core/l2/responder.ts) answers, an ARP request
// for another address or a Neighbor Solicitation, and on a claim of an address it owns (a gratuitous ARP,
// an ARP reply or a Neighbor Advertisement from another station: a Conflict, which its announcer answers).
// A claim of an address it does not own is Ignored there, which the L2 plane only counts. A client acts
// only on ARP replies, gratuitous ARPs and Neighbor Advertisements (client.ts). So the simulator sends
// each frame only to the hosts that can act on it: at 100 nodes and 2,000 Services, a gratuitous
// announcement costs one event per client and per owner of the address instead of one per host. Whether a
// speaker owns the claimed address is judged when the frame is sent, not when it arrives (a fraction of a
// ms later). spec/shell/sim/frame-audience.test.ts shows the responder silent and unmoved on every frame
// this sends to clients only, and a Conflict only for an owned address.
import { Result } from "effect"
import type { L2DecodeError } from "../../core/l2/errors.ts"
import { decodeFrame, type Frame } from "../../core/l2/frame.ts"
import type { Address } from "../../core/net/address.ts"

export interface FrameAudience {
  readonly speakers: boolean
  readonly clients: boolean
  /** The address a claim (not a request) says the sender has: speakers that own it must see the frame too. */
  readonly claims?: Address
  /** The frame decoded once for every receiver (decoding is a pure function of the bytes). */
  readonly decoded: Result.Result<Frame, L2DecodeError>
}

export const frameAudience = (bytes: Uint8Array): FrameAudience => {
  const decoded = decodeFrame(bytes)
  // Nobody acts on a frame that does not decode; every host still gets it (a speaker counts it as malformed).
  if (Result.isFailure(decoded)) return { speakers: true, clients: true, decoded }
  const frame = decoded.success
  const asks = frame._tag === "ArpFrame"
    // An RFC 5227 probe (sender 0.0.0.0) asks, whatever its target.
    ? frame.arp.operation === "request" && (frame.arp.senderIp.value === 0n || frame.arp.senderIp.value !== frame.arp.targetIp.value)
    : frame.ndp._tag === "NeighborSolicitation"
  if (asks) return { speakers: true, clients: false, decoded }
  const claims = frame._tag === "ArpFrame" ? frame.arp.senderIp : frame.ndp._tag === "NeighborAdvertisement" ? frame.ndp.target : undefined
  return { speakers: false, clients: true, ...(claims === undefined ? {} : { claims }), decoded }
}
