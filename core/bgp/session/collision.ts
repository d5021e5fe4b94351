// Connection collision resolution (RFC 4271 §6.8): when both speakers open a connection to each other,
// the one opened by the speaker with the higher BGP Identifier (compared as unsigned 32-bit numbers)
// survives. Identifiers may be equal between different ASes (RFC 6286 §2.3); then the one opened by
// the speaker with the larger ASN survives. The loser is closed with Cease / Connection Collision
// Resolution (RFC 4486).
import type { SessionConfig } from "./config.ts"

/** Which direction's connection to close, given the peer's identifier and ASN from its OPEN. */
export const collisionLoser = (
  config: SessionConfig,
  peerBgpIdentifier: number,
  peerAsn: number,
): "outgoing" | "incoming" => {
  const local = config.localBgpIdentifier >>> 0
  const remote = peerBgpIdentifier >>> 0
  const localWins = local !== remote ? local > remote : config.localAsn > peerAsn
  // The winner's connection is the one it initiated: ours is "outgoing".
  return localWins ? "incoming" : "outgoing"
}
