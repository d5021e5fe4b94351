// BFD's UDP over the native addon, single hop (RFC 5881) and multihop (RFC 5883): one receiving socket
// per address family and port — 3784 for single-hop, 4784 for multihop control packets — shared by
// every session of the host and demultiplexed by port and peer address (one session per peer and
// kind), and one sending socket per session, bound to a source port from 49152-65535 that stays the
// same for the session's life (RFC 5881 §4, RFC 5883 §4) and sending with TTL 255. The received TTL
// goes to the session unjudged: core/bfd wants 255 single-hop, at least minimumTtl multihop. Local
// discriminators are unique among the host's live sessions and start at a random point, so a restarted
// speaker's sessions are not mistaken for the old ones. A single-hop IPv4 link also offers an echo
// path (bfd-echo.ts): the first control packet from the peer names our address and the interface
// (IP_PKTINFO), and the echo port opens there if the kernel lets our echoes come back.
import { randomInt } from "node:crypto"
import { Cause, Effect, Exit, Result, Scope, Stream } from "effect"
import type { NativeAddonLoadFailed, NativeAddonMissing } from "../native/addon.ts"
import { bfdSourcePorts, type Datagram, openUdp, UdpAddon, type UdpAddonApi, type UdpError, type UdpSocket } from "../native/udp.ts"
import type { PacketAddonApi } from "../native/packet.ts"
import type { DatagramLink, EchoSource } from "./bfd-driver.ts"
import { echoCapability, type EchoEndpoint, interfaceNameOf, openEchoEndpoint, readProc } from "./bfd-echo.ts"
import { unmapped } from "./bgp-transport.ts"
import { packetAddon } from "./bgp-unnumbered.ts"
import type { Fibers } from "./fibers.ts"

/** RFC 5881 §4: single-hop Control packets go to this port. */
export const bfdControlPort = 3784
/** RFC 5883 §5: multihop Control packets go to this port. */
export const bfdMultihopControlPort = 4784
const bfdTtl = 255

/** The addon's UDP functions, loaded once; a missing or broken addon is a typed error. */
export const udpAddon: Effect.Effect<UdpAddonApi, NativeAddonMissing | NativeAddonLoadFailed> = Effect.provide(Effect.service(UdpAddon), UdpAddon.layer)

export interface BfdLink extends DatagramLink {
  /** The session's source port (49152-65535). */
  readonly localPort: number
  readonly close: () => Promise<void>
}

export interface BfdEndpointOptions {
  readonly netnsPath?: string
  /** Called when a datagram could not be sent (an interface down, no route); BFD treats it as loss. */
  readonly onSendError?: (peerAddress: string, error: UdpError) => void
  /** AF_PACKET for echoes; loaded from the addon when an echo port is first needed. */
  readonly packet?: PacketAddonApi
  /** The owner's fibers: the receive loops are its, the sockets live in scopes of the owner's. */
  readonly fibers: Fibers
}

export interface BfdEndpoint {
  /**
   * A link to the peer at `peerAddress`: sent from `localAddress` (an address of ours, or the wildcard
   * of its family to let routing choose), received from whatever that peer sends to port 3784 (4784
   * when `multihop`).
   */
  readonly link: (peerAddress: string, localAddress?: string, options?: { readonly multihop?: boolean }) => Promise<BfdLink>
  /** A non-zero discriminator no live session of this endpoint has; give it back with release. */
  readonly allocateDiscriminator: () => number
  readonly releaseDiscriminator: (discriminator: number) => void
  /** Datagrams that arrived from an address no session has. */
  readonly unmatched: () => number
  readonly close: () => Promise<void>
}

type Listener = (bytes: Uint8Array, ttl: number | undefined, datagram: Datagram) => void

/** Opens the host's BFD endpoint; the receiving sockets open with the first session of their family. */
export const openBfdEndpoint = (addon: UdpAddonApi, options: BfdEndpointOptions): BfdEndpoint => {
  const { fibers } = options
  const scope = fibers.child()
  const netns = options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }
  const open = (effect: Effect.Effect<UdpSocket, UdpError, UdpAddon | Scope.Scope>, within: Scope.Scope) =>
    fibers.run(effect.pipe(Scope.provide(within), Effect.provideService(UdpAddon, addon)))
  const byPeer = new Map<string, Set<Listener>>()
  const receivers = new Map<string, Promise<UdpSocket>>()
  const discriminators = new Set<number>()
  let nextDiscriminator = randomInt(1, 2 ** 31)
  let unmatched = 0
  let closed = false
  let echoEndpoint: Promise<EchoEndpoint> | undefined
  const echoes = () =>
    (echoEndpoint ??= (options.packet === undefined ? fibers.run(packetAddon) : Promise.resolve(options.packet))
      .then((packet) => openEchoEndpoint({ udp: addon, packet }, { ...netns, fibers })))

  /** The echo path of a single-hop IPv4 link, opened where the peer's first control packet arrived. */
  const echoSource = async (peer: string, listeners: Set<Listener>, mine: Set<Listener>, closers: Array<() => Promise<void>>): Promise<EchoSource> => {
    const loopsBack = (await readProc("/proc/sys/net/ipv4/ip_forward", options.netnsPath).catch(() => "0")).trim() === "1"
    return {
      loopsBack,
      open: (discriminator, ready, unavailable) => {
        let started = false
        const first: Listener = (_bytes, _ttl, datagram) => {
          if (started || datagram.destination === undefined || datagram.interfaceIndex === undefined) return
          started = true
          listeners.delete(first)
          mine.delete(first)
          const localAddress = unmapped(datagram.destination)
          const index = datagram.interfaceIndex
          void (async () => {
            const interfaceName = await interfaceNameOf(index, options.netnsPath)
            if (interfaceName === undefined) return unavailable(`no interface has index ${index}`)
            const capability = await echoCapability(interfaceName, options.netnsPath)
            if (!capability.canSend) return unavailable(capability.reasons.join("; "))
            const link = await (await echoes()).link({ interfaceName, localAddress, peerAddress: peer, discriminator })
            closers.push(link.close)
            ready(link)
          })().catch((error: unknown) => unavailable(`echo port not opened: ${error instanceof Error ? error.message : String(error)}`))
        }
        mine.add(first)
        listeners.add(first)
      },
    }
  }

  const peerKey = (port: number, peer: string) => `${port}|${peer}`
  const deliver = (port: number, datagram: Datagram) => {
    const listeners = byPeer.get(peerKey(port, unmapped(datagram.address)))
    if (listeners === undefined) {
      unmatched += 1
      return
    }
    for (const listener of listeners) listener(datagram.data, datagram.ttl, datagram)
  }

  const receiver = (family: "ipv4" | "ipv6", port: number): Promise<UdpSocket> => {
    const key = `${family}|${port}`
    const existing = receivers.get(key)
    if (existing !== undefined) return existing
    const opened = open(
      openUdp({ address: family === "ipv4" ? "0.0.0.0" : "::", port, receiveTtl: true, ...netns }),
      scope,
    ).then((socket) => {
      // Runs until the endpoint's scope closes the socket, which ends the stream.
      fibers.fork(Stream.runForEach(socket.datagrams, (d) => Effect.sync(() => deliver(port, d))))
      return socket
    })
    receivers.set(key, opened)
    // A failed open is not cached: the next session may try again.
    opened.catch(() => receivers.delete(key))
    return opened
  }

  return {
    link: async (peerAddress, localAddress, linkOptions = {}) => {
      if (closed) throw new Error("the BFD endpoint is closed")
      // A link-local peer carries its zone ("fe80::1%eth0"): sent with it, matched without it (received
      // datagrams name their source without a zone).
      const peer = unmapped(peerAddress)
      const family = peer.includes(":") ? "ipv6" : "ipv4"
      const port = linkOptions.multihop === true ? bfdMultihopControlPort : bfdControlPort
      await receiver(family, port)
      const linkScope = Scope.forkUnsafe(scope)
      const sender = await open(
        openUdp({ address: localAddress ?? (family === "ipv4" ? "0.0.0.0" : "::"), port: bfdSourcePorts, ttl: bfdTtl, ...netns }),
        linkScope,
      )
      const mine = new Set<Listener>()
      const key = peerKey(port, peer.replace(/%.*$/, ""))
      const listeners = byPeer.get(key) ?? new Set<Listener>()
      byPeer.set(key, listeners)
      let linkClosed = false
      const closers: Array<() => Promise<void>> = []
      const multihop = linkOptions.multihop === true
      const echo = !multihop && family === "ipv4" ? await echoSource(peer, listeners, mine, closers) : undefined
      return {
        ...(echo === undefined ? {} : { echo }),
        localPort: sender.localPort,
        send: (bytes) => {
          if (linkClosed) return
          const sent = fibers.now(sender.send(bytes, peer, port))
          if (Exit.isFailure(sent)) {
            const error = Cause.findError(sent.cause)
            if (Result.isSuccess(error)) options.onSendError?.(peer, error.success)
          }
        },
        onReceive: (listener) => {
          mine.add(listener)
          listeners.add(listener)
        },
        close: async () => {
          if (linkClosed) return
          linkClosed = true
          for (const listener of mine) listeners.delete(listener)
          if (listeners.size === 0) byPeer.delete(key)
          for (const close of closers) await close()
          await fibers.close(linkScope)
        },
      }
    },
    allocateDiscriminator: () => {
      while (discriminators.has(nextDiscriminator) || nextDiscriminator === 0) {
        nextDiscriminator = (nextDiscriminator + 1) >>> 0
      }
      const chosen = nextDiscriminator
      discriminators.add(chosen)
      nextDiscriminator = (nextDiscriminator + 1) >>> 0
      return chosen
    },
    releaseDiscriminator: (discriminator) => {
      discriminators.delete(discriminator)
    },
    unmatched: () => unmatched,
    close: async () => {
      if (closed) return
      closed = true
      byPeer.clear()
      if (echoEndpoint !== undefined) await (await echoEndpoint).close()
      await fibers.close(scope)
    },
  }
}
