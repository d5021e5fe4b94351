// BGP's TCP (RFC 4271 §8: port 179, the active side dials, the passive side listens) over the native
// addon: dials from the configured source address, inside a network namespace when given, with the
// TCP-MD5 key of RFC 2385 set before the SYN and the TTL chosen as FRR chooses it (1 towards an eBGP
// peer unless eBGP multihop, 255 otherwise), and a listener that hands each accepted connection to the
// session configured for its source address (MD5 keys are per peer on the listening socket; unknown
// peers are closed, as FRR does). A connected Node socket becomes the byte-stream Connection the
// BgpPeer driver speaks through.
import type net from "node:net"
import { Cause, Effect, Exit, Fiber, Scope, Stream } from "effect"
import type { NativeAddonLoadFailed, NativeAddonMissing } from "../native/addon.ts"
import { connectTcp, listenTcp, setSocketTtl, TcpAddon, type TcpAddonApi, type TcpError } from "../native/tcp.ts"
import type { Connection, Transport } from "./bgp-peer.ts"
import type { Fibers } from "./fibers.ts"

/** The addon's TCP functions, loaded once; a missing or broken addon is a typed error. */
export const tcpAddon: Effect.Effect<TcpAddonApi, NativeAddonMissing | NativeAddonLoadFailed> = Effect.provide(Effect.service(TcpAddon), TcpAddon.layer)

/** IPv4 peers reach a dual-stack listener as IPv4-mapped IPv6 addresses. */
export const unmapped = (address: string): string => address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "")

const describeFailure = (cause: Cause.Cause<TcpError>): string => {
  const error = Cause.squash(cause) as { code?: unknown; message?: unknown }
  return typeof error.message === "string" ? `${typeof error.code === "string" ? `${error.code}: ` : ""}${error.message}` : String(error)
}

export interface SocketConnectionOptions {
  /** After close(), how long the peer gets to finish before the socket is destroyed (default 2 s). */
  readonly closeGraceMs?: number
  /** Called once the socket is gone (the dial's scope is released here). */
  readonly onGone?: () => void
}

/** A connected Node socket as a BgpPeer Connection. */
export const socketConnection = (socket: net.Socket, options: SocketConnectionOptions = {}): Connection => {
  // BGP messages are small and latency matters (keepalives, the last UPDATE of a burst).
  socket.setNoDelay(true)
  // A reset shows up as 'error' followed by 'close'; the session only needs the close.
  socket.on("error", () => {})
  socket.once("close", () => options.onGone?.())
  const localAddress = socket.localAddress
  return {
    write: (bytes) => {
      if (!socket.destroyed && socket.writable) socket.write(bytes)
    },
    close: () => {
      if (socket.destroyed) return
      socket.end()
      // A peer that never answers our FIN (a hung process) must not keep the socket forever.
      const timer = setTimeout(() => socket.destroy(), options.closeGraceMs ?? 2_000)
      timer.unref()
      socket.once("close", () => clearTimeout(timer))
    },
    onData: (listener) => {
      socket.on("data", (chunk: Buffer) => listener(chunk))
    },
    onClose: (listener) => {
      socket.once("close", () => listener())
    },
    ...(localAddress === undefined ? {} : { localAddress }),
  }
}

export interface TcpTransportOptions {
  readonly peerAddress: string
  readonly peerPort: number
  readonly sourceAddress?: string
  /** TCP-MD5 password (RFC 2385); the peer must have the same one. */
  readonly md5Key?: string
  readonly ttl: number
  /** Dial from inside this network namespace (tests; a speaker runs in the host's). */
  readonly netnsPath?: string
  /** Dial in this Linux VRF (its master device): never in the default one. */
  readonly vrf?: string
  /** How long a dial may take (the session's ConnectRetry time). */
  readonly connectTimeoutMs: number
  /** The owner's fibers: each dial is one of them, and its socket lives in a scope of the owner's. */
  readonly fibers: Fibers
}

/** Dials the peer through the addon; each connection's socket lives until it closes. */
export const tcpTransport = (addon: TcpAddonApi, options: TcpTransportOptions): Transport => ({
  connect: (connected, failed) => {
    const { fibers } = options
    const scope = fibers.child()
    const release = () => void fibers.close(scope)
    const dial = connectTcp({
      peerAddress: options.peerAddress,
      peerPort: options.peerPort,
      timeoutMs: options.connectTimeoutMs,
      ttl: options.ttl,
      ...(options.sourceAddress === undefined ? {} : { sourceAddress: options.sourceAddress }),
      ...(options.md5Key === undefined ? {} : { md5Key: options.md5Key }),
      ...(options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }),
      ...(options.vrf === undefined ? {} : { vrf: options.vrf }),
    })
    let cancelled = false
    const fiber = fibers.fork(dial.pipe(Scope.provide(scope), Effect.provideService(TcpAddon, addon)))
    fiber.addObserver((exit) => {
      if (Exit.isSuccess(exit) && !cancelled) {
        connected(socketConnection(exit.value, { onGone: release }))
        return
      }
      release()
      // Interrupted: cancelled, or the owner's scope closed (SIGTERM); neither is a failed dial.
      if (!cancelled && Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) failed(describeFailure(exit.cause))
    })
    // Interrupting the dial closes its half-open socket (connectTcp); the session hears nothing more.
    return () => {
      cancelled = true
      fibers.fork(Fiber.interrupt(fiber))
    }
  },
})

export interface BgpListenerOptions {
  /** "::" (with IPv4 peers as mapped addresses unless dualStack is false) or "0.0.0.0" listen on every address. */
  readonly address: string
  /** 179 unless a test needs another. */
  readonly port: number
  readonly netnsPath?: string
  /** An IPv6 listener also takes IPv4 peers (default true); false leaves IPv4 to a listener of its own. */
  readonly dualStack?: boolean
  /** Listen in this Linux VRF (its master device) only. */
  readonly vrf?: string
  /** Called for each connection closed because no peer is configured for its source address. */
  readonly onRefused?: (address: string) => void
  /** The owner's fibers: the accept loop is one of them, the listening socket in a scope of the owner's. */
  readonly fibers: Fibers
}

export interface ListenedPeer {
  readonly address: string
  readonly accept: (connection: Connection) => void
  readonly md5Key?: string
  /** The TTL the accepted socket sends with (see core/speaker/session-config.ts bgpTtl). */
  readonly ttl: number
}

export interface BgpListener {
  readonly address: string
  readonly port: number
  /** Hands connections from `peer.address` to `peer.accept`; its MD5 key applies from now on. */
  readonly addPeer: (peer: ListenedPeer) => Promise<void>
  readonly removePeer: (address: string) => Promise<void>
  readonly close: () => Promise<void>
  /** Connections closed because no peer is configured for their source (for logs and tests). */
  readonly refused: () => number
}

/** Listens for BGP connections until close(). */
export const listenBgp = async (addon: TcpAddonApi, options: BgpListenerOptions): Promise<BgpListener> => {
  const { fibers } = options
  const scope = fibers.child()
  const provide = <A>(effect: Effect.Effect<A, TcpError, TcpAddon | Scope.Scope>) =>
    fibers.run(effect.pipe(Scope.provide(scope), Effect.provideService(TcpAddon, addon)))
  const listener = await provide(
    listenTcp({
      address: options.address,
      port: options.port,
      ...(options.address.includes(":") ? { v6Only: options.dualStack === false } : {}),
      ...(options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }),
      ...(options.vrf === undefined ? {} : { vrf: options.vrf }),
    }),
  ).catch(async (error: unknown) => {
    // Not left among the owner's scopes until it closes: the speaker retries at each session's request.
    await fibers.close(scope)
    throw error
  })
  const peers = new Map<string, ListenedPeer>()
  let refused = 0
  const route = (socket: net.Socket) => {
    const source = unmapped(socket.remoteAddress ?? "")
    const peer = peers.get(source)
    if (peer === undefined) {
      refused += 1
      socket.destroy()
      options.onRefused?.(source)
      return
    }
    const ttlSet = fibers.now(Effect.provideService(setSocketTtl(socket, peer.ttl), TcpAddon, addon))
    if (Exit.isFailure(ttlSet)) {
      socket.destroy()
      return
    }
    peer.accept(socketConnection(socket))
  }
  // The stream ends when the scope closes, and this fiber with it.
  fibers.fork(Stream.runForEach(listener.connections, (socket) => Effect.sync(() => route(socket))))
  let closed = false
  return {
    address: listener.address,
    port: listener.port,
    addPeer: async (peer) => {
      const address = unmapped(peer.address)
      peers.set(address, peer)
      await fibers.run(listener.setMd5Peer(address, peer.md5Key))
    },
    removePeer: async (address) => {
      peers.delete(unmapped(address))
      await fibers.run(listener.setMd5Peer(unmapped(address), undefined))
    },
    close: async () => {
      if (closed) return
      closed = true
      await fibers.close(scope)
    },
    refused: () => refused,
  }
}
