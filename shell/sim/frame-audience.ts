// Which hosts of the Layer 2 segment can act on a frame. Every host receives every frame on a real
// segment, but a speaker acts only on what its responder (core/l2/responder.ts) answers: an ARP
// request for another address or a Neighbor Solicitation. A gratuitous ARP, an ARP reply or a Neighbor
// Advertisement is at most a Conflict or Ignored there, which the L2 plane only counts. A client acts only
// on ARP replies, gratuitous ARPs and Neighbor Advertisements (client.ts). So the simulator sends each
// frame only to the hosts of the kind that can act on it: at 100 nodes and 2,000 Services, a gratuitous
// announcement costs one event per client instead of one per host. spec/shell/sim/frame-audience.test.ts
// shows the responder silent and unmoved on every frame this sends to clients only.
import { Result } from "effect"
import type { L2DecodeError } from "../../core/l2/errors.ts"
import { decodeFrame, type Frame } from "../../core/l2/frame.ts"

export interface FrameAudience {
  readonly speakers: boolean
  readonly clients: boolean
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
  return { speakers: asks, clients: !asks, decoded }
}
