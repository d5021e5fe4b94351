// One configured BGPPeer as a running session: the session configuration derived from the resolved
// Peer (and its BFDProfile) the way MetalLB's FRR mode configures bgpd, the TCP transport (dialled,
// or accepted through a shared listener), and an optional BFD session whose Up -> Down takes the BGP
// session down at once (RFC 5882 §3.2) rather than after the hold time: multihop (RFC 5883, UDP 4784)
// for a peer with ebgpMultiHop, single-hop (RFC 5881, UDP 3784) otherwise. Choices that follow FRR: the families are the peer address's family, or both with dualStackAddressFamily; the
// TTL is 1 towards a directly connected eBGP peer and 255 otherwise; the local ASN is the peer's
// localASN when set (bgpd's `local-as`), else myASN. A peer in a VRF (`vrf`) is dialled and listened
// for with sockets bound to the VRF's master device, so the route, the source address and our next hop
// (the connection's local address) come from that VRF; a session whose VRF is not on the node does not
// start, and is never tried in the default VRF. An unnumbered peer (`interface`) is dialled at the
// link-local address its Router Advertisements come from (bgp-unnumbered.ts), with RFC 8950 extended
// next hop carrying IPv4 routes and single-hop BFD to that address; its label is the interface name.
// BFD in a VRF is refused, not run over the wrong path.
import { Result } from "effect"
import type { BfdState } from "../../core/bfd/packet.ts"
import { isPathFailure } from "../../core/bfd/session.ts"
import type { BfdProfile, Peer } from "../../core/config/config.ts"
import { formatAddress } from "../../core/net/address.ts"
import { bfdMultihop, bgpTtl, isExternal, PeerSessionError, sessionConfigFor, type SessionConfigOptions, type SessionSpec } from "../../core/speaker/session-config.ts"
import type { DesiredRoute } from "../../core/bgp/rib.ts"
import type { TcpAddonApi } from "../native/tcp.ts"
import { BfdDriver } from "./bfd-driver.ts"
import type { BfdEndpoint, BfdLink } from "./bfd-transport.ts"
import { BgpPeer, type BgpPeerOptions, type PeerEvents, type Transport } from "./bgp-peer.ts"
import { type BgpListener, tcpTransport, type TcpTransportOptions } from "./bgp-transport.ts"
import { findLinkLocalNeighbour, type LinkLocalNeighbour, neighbourBfdLink, packetAddon, unnumberedTransport } from "./bgp-unnumbered.ts"
import type { PacketAddonApi } from "../native/packet.ts"
import type { Fibers } from "./fibers.ts"

export interface PeerSessionEvents extends PeerEvents {
  readonly onBfdStateChanged?: (from: BfdState, to: BfdState, diagnostic: number) => void
  /** Something the peer's configuration asks for that this node cannot give (e.g. BFD echo); onLog when absent. */
  readonly onWarning?: (message: string) => void
}

/** What a session runs on: the sockets, the BFD endpoint, the listener, and who hears of its changes. */
export interface PeerSessionPorts {
  readonly tcp: TcpAddonApi
  /** Run the sockets in this network namespace (tests). */
  readonly netnsPath?: string
  /** Accept the peer's connections here too (needed when passive). */
  readonly listener?: BgpListener
  readonly bfd?: BfdEndpoint
  readonly nextHops?: BgpPeerOptions["nextHops"]
  readonly events?: PeerSessionEvents
  /** Replace the TCP transport (tests). */
  readonly transport?: Transport
  readonly planner?: BgpPeerOptions["planner"]
  /** AF_PACKET for an unnumbered peer's neighbour discovery; loaded from the addon when absent. */
  readonly packet?: PacketAddonApi
  /** The owner's fibers: the dials, the neighbour discovery and their sockets are the owner's. */
  readonly fibers: Fibers
}

export interface PeerSessionOptions extends SessionConfigOptions, PeerSessionPorts {
  readonly peer: Peer
  /** The profile named by peer.bfdProfile; BFD runs when given (and a bfd endpoint is). */
  readonly bfdProfile?: BfdProfile
}

/**
 * Refuses to start a session in a VRF this node does not have (or a device that is not a VRF), or with
 * BFD, whose UDP socket would run in the default VRF: the session would otherwise be dialled in the
 * default VRF, a silent wrong answer.
 */
const checkVrf = (spec: SessionSpec, options: PeerSessionPorts): void => {
  const { peer } = spec
  const vrf = JSON.stringify(peer.vrf)
  const notStarted = "the session is not started (it is never dialled in the default VRF)"
  if (spec.bfdProfile !== undefined) {
    throw new PeerSessionError(`peer ${peer.name}: BFD (profile ${JSON.stringify(spec.bfdProfile.name)}) in VRF ${vrf} is not supported: its UDP socket would run in the default VRF; ${notStarted}`)
  }
  try {
    options.tcp.checkVrf({ vrf: peer.vrf, ...(options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }) })
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown }
    const why = code === "ENODEV" ? `no VRF device ${vrf} exists on this node`
      : code === "EMEDIUMTYPE" ? `device ${vrf} exists on this node but is not a VRF`
      : `VRF ${vrf} cannot be used: ${String(message)}`
    throw new PeerSessionError(`peer ${peer.name}: ${why}; ${notStarted}`)
  }
}

/** How the session's TCP connection is dialled to `peerAddress` (a zone picks a link-local's interface). */
const dialOptions = (spec: SessionSpec, options: PeerSessionPorts, peerAddress: string): TcpTransportOptions => {
  const { peer } = spec
  return {
    peerAddress,
    peerPort: peer.port,
    ttl: spec.ttl,
    connectTimeoutMs: spec.session.connectRetryTimeSeconds * 1000,
    fibers: options.fibers,
    ...(peer.sourceAddress === undefined ? {} : { sourceAddress: formatAddress(peer.sourceAddress) }),
    ...(peer.password === undefined ? {} : { md5Key: peer.password }),
    ...(options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }),
    ...(peer.vrf === "" ? {} : { vrf: peer.vrf }),
  }
}

/** A running BGP session with its BFD session, built from configuration. */
export class PeerSession {
  readonly bgp: BgpPeer
  readonly bfd: BfdDriver | undefined
  private readonly options: PeerSessionPorts
  /** The peer's address as text: the `peer` label of its metrics, as in MetalLB. */
  readonly peerAddress: string
  private readonly link: BfdLink | undefined
  private readonly discriminator: number | undefined
  /** An unnumbered session's neighbour discovery, closed with the session. */
  readonly neighbour: LinkLocalNeighbour | undefined

  private constructor(options: PeerSessionPorts, peerAddress: string, bgp: BgpPeer, bfd?: { driver: BfdDriver; link: BfdLink; discriminator: number }, neighbour?: LinkLocalNeighbour) {
    this.options = options
    this.neighbour = neighbour
    this.peerAddress = peerAddress
    this.bgp = bgp
    this.bfd = bfd?.driver
    this.link = bfd?.link
    this.discriminator = bfd?.discriminator
  }

  /** A session for a resolved Peer (core/speaker/session-config.ts decides its configuration). */
  static async open(options: PeerSessionOptions): Promise<PeerSession> {
    const { peer } = options
    const session = sessionConfigFor(peer, options)
    if (Result.isFailure(session)) throw session.failure
    const spec: SessionSpec = { peer, session: session.success, ttl: bgpTtl(isExternal(peer), peer.ebgpMultiHop), ...(options.bfdProfile === undefined ? {} : { bfdProfile: options.bfdProfile }) }
    return PeerSession.fromSpec(spec, options)
  }

  /** A session as the node machine specified it (core/speaker/node's OpenSession). */
  static async fromSpec(spec: SessionSpec, options: PeerSessionPorts): Promise<PeerSession> {
    const { peer } = spec
    if (peer.address === undefined) return PeerSession.unnumbered(spec, options)
    if (spec.session.passive && options.listener === undefined) throw new PeerSessionError(`peer ${peer.name}: a passive session needs a listener`)
    if (peer.vrf !== "") checkVrf(spec, options)
    const peerAddress = formatAddress(peer.address)
    const transport = options.transport ?? tcpTransport(options.tcp, dialOptions(spec, options, peerAddress))
    return PeerSession.withTransport(spec, options, peerAddress, transport)
  }

  /**
   * A session over `peer.interface`'s IPv6 link-local addresses, dialled at the neighbour its Router
   * Advertisements name. It only dials (the neighbour may also dial us; the listeners refuse it and
   * our own dial wins): which link-local address to accept is known only once discovered.
   */
  private static async unnumbered(spec: SessionSpec, options: PeerSessionPorts): Promise<PeerSession> {
    const { peer } = spec
    const interfaceName = peer.interface ?? ""
    if (spec.session.passive) throw new PeerSessionError(`peer ${peer.name}: an unnumbered session cannot be passive: it is found by dialling the neighbour on ${interfaceName}`)
    if (peer.vrf !== "") checkVrf(spec, options)
    const packet = options.packet ?? (await options.fibers.run(packetAddon))
    const netnsPath = options.netnsPath
    const neighbour = await findLinkLocalNeighbour(packet, {
      interfaceName,
      sourceAddress: (destination) => options.tcp.sourceAddress({ destination, ...(netnsPath === undefined ? {} : { netnsPath }) }),
      fibers: options.fibers,
      ...(options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }),
      ...(options.events?.onLog === undefined ? {} : { onLog: options.events.onLog }),
    })
    const timeoutMs = spec.session.connectRetryTimeSeconds * 1000
    const transport = options.transport ?? unnumberedTransport(neighbour, timeoutMs, (address) => tcpTransport(options.tcp, dialOptions(spec, options, address)))
    return PeerSession.withTransport(spec, options, interfaceName, transport, neighbour)
  }

  private static async withTransport(spec: SessionSpec, options: PeerSessionPorts, peerAddress: string, transport: Transport, neighbour?: LinkLocalNeighbour): Promise<PeerSession> {
    const { peer, ttl } = spec
    const bgp = new BgpPeer({
      name: peer.name,
      session: spec.session,
      transport,
      ...(options.nextHops === undefined ? {} : { nextHops: options.nextHops }),
      ...(options.events === undefined ? {} : { events: options.events }),
      ...(options.planner === undefined ? {} : { planner: options.planner }),
    })
    if (neighbour === undefined && options.listener !== undefined) {
      await options.listener.addPeer({
        address: peerAddress,
        accept: (connection) => bgp.accept(connection),
        ttl,
        ...(peer.password === undefined ? {} : { md5Key: peer.password }),
      })
    }
    if (spec.bfdProfile === undefined || options.bfd === undefined) return new PeerSession(options, peerAddress, bgp, undefined, neighbour)
    let link: BfdLink
    const endpoint = options.bfd
    if (neighbour !== undefined) {
      // Single hop to the neighbour's link-local address, once its advertisements name it.
      link = neighbourBfdLink(neighbour, (address) => endpoint.link(address), options.events?.onLog)
    } else {
      try {
        link = await endpoint.link(peerAddress, peer.sourceAddress === undefined ? undefined : formatAddress(peer.sourceAddress), { multihop: bfdMultihop(peer) })
      } catch (error) {
        await options.listener?.removePeer(peerAddress)
        throw error
      }
    }
    const discriminator = options.bfd.allocateDiscriminator()
    const onBfd = options.events?.onBfdStateChanged
    const driver = new BfdDriver({
      profile: spec.bfdProfile,
      localDiscriminator: discriminator,
      link,
      multihop: bfdMultihop(peer),
      events: {
        onStateChanged: (from, to, diagnostic, remoteState) => {
          onBfd?.(from, to, diagnostic)
          if (isPathFailure(from, to, remoteState)) bgp.bfdDown()
        },
        // The profile asks for echo mode and this node cannot run it: say why (a kernel setting, multihop).
        onEchoUnavailable: (reason) => (options.events?.onWarning ?? options.events?.onLog)?.(`bfd ${peer.name}: no echo: ${reason}`),
      },
    })
    return new PeerSession(options, peerAddress, bgp, { driver, link, discriminator }, neighbour)
  }

  get state() {
    return this.bgp.state
  }

  start(): void {
    this.bfd?.start()
    this.bgp.start()
  }

  setRoutes(routes: ReadonlyArray<DesiredRoute>): void {
    this.bgp.setRoutes(routes)
  }

  /** Cease to the peer, AdminDown to its BFD, and every socket of the session closed. */
  async stop(): Promise<void> {
    this.bgp.stop()
    this.bfd?.stop()
    if (this.neighbour === undefined) await this.options.listener?.removePeer(this.peerAddress)
    await this.neighbour?.close()
    await this.link?.close()
    if (this.discriminator !== undefined) this.options.bfd?.releaseDiscriminator(this.discriminator)
  }
}
