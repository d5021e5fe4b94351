// Which hosts of the Layer 2 segment can act on a frame. Every host receives every frame on a real
// segment, but a speaker acts only on what its responder (core/l2/responder.ts) answers: an ARP
// request for another address or a Neighbor Solicitation. A gratuitous ARP, an ARP reply or a Neighbor
// Advertisement is at most a Conflict or Ignored there, which the L2 plane only counts. A client acts only
// on ARP replies, gratuitous ARPs and Neighbor Advertisements (client.ts). So the simulator sends each
// frame only to the hosts of the kind that can act on it: at 100 nodes and 2,000 Services, a gratuitous
// announcement costs one event per client instead of one per host. spec/shell/sim/frame-audience.test.ts
// shows the responder silent and unmoved on every frame this sends to clients only.
import { Result } from "effect"
import { decodeFrame } from "../../core/l2/frame.ts"

export interface FrameAudience {
  readonly speakers: boolean
  readonly clients: boolean
}

const speakersOnly: FrameAudience = { speakers: true, clients: false }
const clientsOnly: FrameAudience = { speakers: false, clients: true }
const everyone: FrameAudience = { speakers: true, clients: true }

export const frameAudience = (bytes: Uint8Array): FrameAudience => {
  const decoded = decodeFrame(bytes)
  // Nobody acts on a frame that does not decode; every host still gets it (a speaker counts it as malformed).
  if (Result.isFailure(decoded)) return everyone
  const frame = decoded.success
  if (frame._tag === "ArpFrame") {
    const { arp } = frame
    // An RFC 5227 probe (sender 0.0.0.0) asks, whatever its target.
    const gratuitous = arp.senderIp.value !== 0n && arp.senderIp.value === arp.targetIp.value
    return arp.operation === "request" && !gratuitous ? speakersOnly : clientsOnly
  }
  return frame.ndp._tag === "NeighborSolicitation" ? speakersOnly : clientsOnly
}
