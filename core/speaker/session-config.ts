// One configured BGPPeer as the session it runs: the FSM configuration derived from the resolved Peer
// the way MetalLB's FRR mode configures bgpd, the TTL, the router ID, and the fingerprint that decides
// when a running session must be restarted (only when what it was opened with changed). Choices that
// follow FRR: the families are the peer address's family, or both with dualStackAddressFamily; the TTL
// is 1 towards a directly connected eBGP peer and 255 otherwise; the local ASN is the peer's localASN
// when set (bgpd's `local-as`), else myASN. An unnumbered peer (`interface`, no address) runs over the
// interface's IPv6 link-local addresses as FRR's `neighbor <interface> interface` does: both unicast
// families, and RFC 8950 extended next hop offered so IPv4 routes travel with our IPv6 next hop.
import { Result } from "effect"
import type { SessionConfig } from "../bgp/session.ts"
import { validateSessionConfig } from "../bgp/session.ts"
import type { BfdProfile, Config, Peer } from "../config/config.ts"
import type { Address, Family } from "../net/address.ts"
import { defaultConnectRetrySeconds, defaultRestartTimeSeconds, speakerBackoff } from "./settings.ts"
import type { NodeView } from "./view.ts"

export class PeerSessionError extends Error {
  override readonly name = "PeerSessionError"
}

/** The ASN this end of the session uses. */
export const localAsnOf = (peer: Peer): number => peer.localAsn ?? peer.myAsn

/** Whether the session is external (dynamic ASNs decide by their kind). */
export const isExternal = (peer: Peer): boolean =>
  peer.peerAsn !== undefined ? peer.peerAsn !== localAsnOf(peer) : peer.dynamicAsn === "external"

/** An unnumbered peer: the session runs over the link-local addresses of `peer.interface`. */
export const isUnnumbered = (peer: Peer): boolean => peer.address === undefined && peer.interface !== undefined

/**
 * The peer address's family first; the other one too when dualStackAddressFamily asks for it. An
 * unnumbered session has no address family of its own: IPv4 (with extended next hop) and IPv6, as
 * FRR activates both for an interface peer in MetalLB's configuration.
 */
export const familiesOf = (peer: Peer): ReadonlyArray<Family> => {
  if (isUnnumbered(peer)) return ["ipv4", "ipv6"]
  const own: Family = peer.address?.family ?? "ipv4"
  const other: Family = own === "ipv4" ? "ipv6" : "ipv4"
  return peer.dualStackAddressFamily ? [own, other] : [own]
}

/**
 * Whether the peer's BFD session is multihop (RFC 5883, UDP 4784, TTL down to the profile's
 * minimumTtl): for a peer with ebgpMultiHop, as FRR's bgpd registers such a peer with bfdd. Every other
 * peer is a neighbour on a shared link and runs single-hop BFD (RFC 5881). FRR also goes multihop for
 * an iBGP peer that is not on a connected network; deciding that needs the node's routes, so here an
 * iBGP peer is single-hop.
 */
export const bfdMultihop = (peer: Peer): boolean => peer.ebgpMultiHop

/** 1 towards a directly connected eBGP peer (GTSM-like), 255 otherwise. */
export const bgpTtl = (external: boolean, ebgpMultiHop: boolean): number => (external && !ebgpMultiHop ? 1 : 255)

/** The BGP identifier for peers without routerID: the host address if IPv4, else the Node's first IPv4 address. */
export const routerIdFor = (hostAddress: Address | undefined, node: NodeView | undefined): Address | undefined =>
  [...(hostAddress === undefined ? [] : [hostAddress]), ...(node?.addresses ?? [])].find((a) => a.family === "ipv4")

export interface SessionConfigOptions {
  /** The BGP identifier when the peer gives no routerId (MetalLB uses the node's IPv4 address). */
  readonly routerId?: Address
  /** Never dial; wait for the peer to connect through a listener. */
  readonly passive?: boolean
  readonly backoff?: SessionConfig["backoff"]
}

const identifierOf = (peer: Peer, fallback: Address | undefined): number | undefined => {
  const id = peer.routerId ?? fallback
  return id?.family === "ipv4" ? Number(id.value) : undefined
}

/** The FSM configuration for a resolved Peer, or why it cannot run here. */
export const sessionConfigFor = (peer: Peer, options: SessionConfigOptions = {}): Result.Result<SessionConfig, PeerSessionError> => {
  if (peer.address === undefined && peer.interface === undefined) return Result.fail(new PeerSessionError(`peer ${peer.name}: neither peerAddress nor interface`))
  const peerAsn = peer.peerAsn ?? peer.dynamicAsn
  if (peerAsn === undefined) return Result.fail(new PeerSessionError(`peer ${peer.name}: neither peerASN nor dynamicASN`))
  const localBgpIdentifier = identifierOf(peer, options.routerId)
  if (localBgpIdentifier === undefined) return Result.fail(new PeerSessionError(`peer ${peer.name}: an IPv4 router ID is needed`))
  const config: SessionConfig = {
    localAsn: localAsnOf(peer),
    peerAsn,
    localBgpIdentifier,
    holdTimeSeconds: peer.holdTimeSeconds,
    keepaliveTimeSeconds: peer.keepaliveTimeSeconds,
    connectRetryTimeSeconds: peer.connectTimeSeconds ?? defaultConnectRetrySeconds,
    families: familiesOf(peer),
    gracefulRestart: {
      enabled: peer.enableGracefulRestart,
      restartTimeSeconds: defaultRestartTimeSeconds,
      restarting: false,
      // MetalLB's FRR configuration says `bgp graceful-restart preserve-fw-state`.
      forwardingPreserved: true,
    },
    passive: options.passive ?? false,
    backoff: options.backoff ?? speakerBackoff,
    ...(isUnnumbered(peer) ? { extendedNextHop: true } : {}),
  }
  return Result.mapError(validateSessionConfig(config), (e) => new PeerSessionError(`peer ${peer.name}: ${e.message}`))
}

/** Everything a session is opened with; a running session is restarted only when this changes. */
export interface SessionSpec {
  readonly peer: Peer
  readonly session: SessionConfig
  readonly ttl: number
  /** The profile peer.bfdProfile names: BFD runs with the session when present. */
  readonly bfdProfile?: BfdProfile
}

/** The session spec of one peer of the configuration, or why it cannot run on this node. */
export const sessionSpecFor = (config: Config, name: string, routerId: Address | undefined): Result.Result<SessionSpec, PeerSessionError> => {
  const peer = config.peers.get(name)
  if (peer === undefined) return Result.fail(new PeerSessionError(`peer ${name}: not in the configuration`))
  const session = sessionConfigFor(peer, routerId === undefined ? {} : { routerId })
  if (Result.isFailure(session)) return Result.fail(session.failure)
  const bfdProfile = peer.bfdProfile === undefined ? undefined : config.bfdProfiles.get(peer.bfdProfile)
  return Result.succeed({
    peer,
    session: session.success,
    ttl: bgpTtl(isExternal(peer), peer.ebgpMultiHop),
    ...(bfdProfile === undefined ? {} : { bfdProfile }),
  })
}

/** Stable text of a value with bigints (addresses) in it. */
export const stableText = (value: unknown): string => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v))

export const sessionFingerprint = (spec: SessionSpec): string => stableText(spec)
