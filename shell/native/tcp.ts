// TCP for the BGP shell through the native addon (shell/native/src/tcp_*.c, socket_options.c), as
// Effects. What Node's net module cannot do is done in C: creating the socket inside a peer's network
// namespace, TCP-MD5 signatures (RFC 2385, set before the SYN), the sent TTL (eBGP multihop) and the
// minimum received TTL (GTSM, RFC 5082). The connected or listening fd is then adopted by Node
// (`new net.Socket({ fd, readable: true, writable: true })`, `net.createServer().listen({ fd })`), so
// reads and writes are plain Node streams. Sockets are scoped: closing the scope destroys them, and an
// interrupted connect cancels the attempt in the kernel.
//
// Adopting fds under Node 24 (checked by spec/shell/native/tcp.test.ts): net.Socket takes a connected TCP
// fd as it is (no 'connect' event; remoteAddress/localAddress read from the kernel). Node's docs say
// `readable`/`writable` default to false for an fd; Node 24 reads and writes it either way, and we pass
// both explicitly so a future Node that follows its docs changes nothing. The addon stops polling the fd
// before handing it over, so libuv's "fd already watched" check passes. listen({ fd }) calls listen(2) again with
// Node's own backlog (511). From then on Node owns the fd and closes it.
import net from "node:net"
import { closeSync } from "node:fs"
import { type Cause, Context, Effect, Layer, Queue, Schema, Scope, Stream } from "effect"
import { defaultAddonPath, loadAddon, type NativeAddonLoadFailed, type NativeAddonMissing, type OperationContext as ErrorContext, operationErrorFields } from "./addon.ts"

/** A failed TCP operation; `code` is the errno name (ECONNREFUSED, ETIMEDOUT, ...) or an ERR_* code. */
export class TcpError extends Schema.TaggedError<TcpError>()("TcpError", {
  operation: Schema.String,
  address: Schema.optional(Schema.String),
  port: Schema.optional(Schema.Number),
  netnsPath: Schema.optional(Schema.String),
  code: Schema.String,
  syscall: Schema.optional(Schema.String),
  message: Schema.String,
}) {}

// ---------------------------------------------------------------------------------------------------
// The addon's raw surface

/** A TCP-MD5 key: text (as UTF-8) or bytes, 1 to 80 bytes. */
export type Md5Key = string | Uint8Array

export interface NativeTcpConnectOptions {
  readonly peerAddress: string
  readonly peerPort: number
  readonly sourceAddress?: string | undefined
  readonly md5Key?: Md5Key | undefined
  /** TTL / hop limit of sent packets (1-255); the kernel's default when absent. */
  readonly ttl?: number | undefined
  /** Drop received packets with a lower TTL / hop limit (GTSM). */
  readonly minTtl?: number | undefined
  readonly netnsPath?: string | undefined
  /** Dial in this Linux VRF (its master device's name): routed by its table, sourced from its interfaces. */
  readonly vrf?: string | undefined
  readonly timeoutMs: number
}

/** A pending connect: the connected fd, or a rejection; `cancel()` ends it with ECANCELED. */
export type TcpConnectAttempt = Promise<number> & { readonly cancel: () => void }

export interface NativeTcpListenOptions {
  readonly address: string
  /** 0 lets the kernel choose. */
  readonly port: number
  readonly md5Peers?: ReadonlyArray<{ readonly address: string; readonly key: Md5Key }> | undefined
  readonly netnsPath?: string | undefined
  /** Default 511 (Node's listen() sets it again to its own default). */
  readonly backlog?: number | undefined
  /** IPv6 listeners refuse IPv4 unless this is false (default true). */
  readonly v6Only?: boolean | undefined
  readonly ttl?: number | undefined
  readonly minTtl?: number | undefined
  /** Listen in this Linux VRF only (connections arriving on its interfaces). */
  readonly vrf?: string | undefined
}

export interface TcpAddonApi {
  readonly tcpConnect: (options: NativeTcpConnectOptions) => TcpConnectAttempt
  /** A listening, non-blocking fd. */
  readonly tcpListen: (options: NativeTcpListenOptions) => number
  /** Adds, replaces or (key undefined) removes the MD5 key for a peer address on a TCP socket. */
  readonly setMd5Peer: (fd: number, address: string, key?: Md5Key) => void
  readonly setTtl: (fd: number, ttl: number) => void
  /** 0 turns GTSM off. */
  readonly setMinTtl: (fd: number, ttl: number) => void
  /** Throws unless `vrf` is a VRF master device in the namespace: ENODEV (none), EMEDIUMTYPE (not a VRF). */
  readonly checkVrf: (options: { readonly vrf: string; readonly netnsPath?: string | undefined }) => void
  /**
   * The address the kernel would send from towards `destination` ("ff02::1%eth0": the interface's
   * link-local address), found with a connected UDP socket that sends nothing.
   */
  readonly sourceAddress: (options: { readonly destination: string; readonly netnsPath?: string | undefined }) => string
}

const addonFunctions = ["tcpConnect", "tcpListen", "setMd5Peer", "setTtl", "setMinTtl", "checkVrf", "sourceAddress"] as const

export class TcpAddon extends Context.Service<TcpAddon, TcpAddonApi>()("metallb-ts/shell/native/TcpAddon") {
  static readonly layer: Layer.Layer<TcpAddon, NativeAddonMissing | NativeAddonLoadFailed> = Layer.effect(
    TcpAddon,
    loadAddon<TcpAddonApi>(defaultAddonPath, addonFunctions),
  )
  static readonly layerAt = (path: string): Layer.Layer<TcpAddon, NativeAddonMissing | NativeAddonLoadFailed> =>
    Layer.effect(TcpAddon, loadAddon<TcpAddonApi>(path, addonFunctions))
}

// ---------------------------------------------------------------------------------------------------
// Errors

const toTcpError = (context: ErrorContext, cause: unknown): TcpError => new TcpError(operationErrorFields(context, cause))

const attempt = <A>(context: ErrorContext, f: () => A): Effect.Effect<A, TcpError> =>
  Effect.try({ try: f, catch: (cause) => toTcpError(context, cause) })

// ---------------------------------------------------------------------------------------------------
// Connecting

export type TcpConnectOptions = NativeTcpConnectOptions

/**
 * Connects to a peer and returns the connection as a Node socket, destroyed when the scope closes.
 * Interrupting the connect cancels it (the half-open socket is closed, nothing is left behind).
 */
export const connectTcp = (options: TcpConnectOptions): Effect.Effect<net.Socket, TcpError, TcpAddon | Scope.Scope> =>
  Effect.gen(function* () {
    const addon = yield* TcpAddon
    const context: ErrorContext = {
      operation: "connect",
      address: options.peerAddress,
      port: options.peerPort,
      netnsPath: options.netnsPath,
    }
    // The socket is adopted the moment the fd arrives, and the scope owns it from then on, so no window
    // exists where an interruption could leak the fd.
    let socket: net.Socket | undefined
    let scopeClosed = false
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        scopeClosed = true
        socket?.destroy()
      }),
    )
    return yield* Effect.callback<net.Socket, TcpError>((resume) => {
      let pending: TcpConnectAttempt
      try {
        pending = addon.tcpConnect(options)
      } catch (cause) {
        resume(Effect.fail(toTcpError(context, cause)))
        return
      }
      pending.then(
        (fd) => {
          if (scopeClosed) {
            closeSync(fd)
            return
          }
          try {
            socket = new net.Socket({ fd, readable: true, writable: true })
          } catch (cause) {
            closeSync(fd)
            resume(Effect.fail(toTcpError({ ...context, operation: "adopt" }, cause)))
            return
          }
          resume(Effect.succeed(socket))
        },
        (cause: unknown) => resume(Effect.fail(toTcpError(context, cause))),
      )
      return Effect.sync(() => pending.cancel())
    })
  })

// ---------------------------------------------------------------------------------------------------
// Listening

export interface TcpListenOptions extends NativeTcpListenOptions {
  /** Accepted connections waiting to be taken (`accept`, `connections`); beyond that they are closed (default 64). */
  readonly acceptQueueCapacity?: number | undefined
}

export interface TcpListener {
  readonly server: net.Server
  /** The listening fd (owned by `server`). */
  readonly fd: number
  /** The bound address and port (the chosen one when asked for port 0). */
  readonly address: string
  readonly port: number
  /** The next accepted connection (waits for one); fails with ERR_SOCKET_CLOSED once the scope closes. */
  readonly accept: Effect.Effect<net.Socket, TcpError>
  /**
   * Accepted connections in order, from the same queue as `accept`; each carries the MD5 key (and the
   * minimum TTL) the listener had for its peer. They wait in a bounded queue (beyond
   * `acceptQueueCapacity` they are closed); closing the scope closes the ones never taken.
   */
  readonly connections: Stream.Stream<net.Socket>
  /** Adds, replaces or (key undefined) removes a peer's MD5 key; applies to connections accepted later. */
  readonly setMd5Peer: (address: string, key: Md5Key | undefined) => Effect.Effect<void, TcpError>
  readonly setMinTtl: (ttl: number) => Effect.Effect<void, TcpError>
}

/** Listens for TCP connections for the life of the scope; closing it stops listening. */
export const listenTcp = (options: TcpListenOptions): Effect.Effect<TcpListener, TcpError, TcpAddon | Scope.Scope> =>
  Effect.gen(function* () {
    const addon = yield* TcpAddon
    const context: ErrorContext = {
      operation: "listen",
      address: options.address,
      port: options.port,
      netnsPath: options.netnsPath,
    }
    // Accepted connections wait here to be taken. The queue listens from before the server does, so no
    // connection is ever emitted to nobody.
    const accepted = yield* Queue.dropping<net.Socket, Cause.Done>(options.acceptQueueCapacity ?? 64)
    const onConnection = (socket: net.Socket) => {
      // Nobody would ever read a connection the queue cannot take: close it rather than leave it open.
      if (!Queue.offerUnsafe(accepted, socket)) socket.destroy()
    }
    const server = yield* Effect.acquireRelease(
      Effect.flatMap(
        attempt(context, () => addon.tcpListen(options)),
        (fd) =>
          Effect.callback<net.Server, TcpError>((resume) => {
            const server = net.createServer()
            server.on("connection", onConnection)
            const onError = (cause: Error) => resume(Effect.fail(toTcpError({ ...context, operation: "adopt" }, cause)))
            server.once("error", onError)
            // Node owns the fd from here: its handle closes it, also on failure.
            server.listen({ fd }, () => {
              server.off("error", onError)
              resume(Effect.succeed(server))
            })
          }),
      ),
      (server) =>
        Effect.gen(function* () {
          server.off("connection", onConnection)
          server.close()
          for (const socket of yield* Queue.clear(accepted)) socket.destroy()
          yield* Queue.end(accepted)
        }).pipe(Effect.ignore),
    )
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd
    const bound = server.address() as net.AddressInfo

    return {
      server,
      fd,
      address: bound.address,
      port: bound.port,
      accept: Effect.catchCause(Queue.take(accepted), () =>
        Effect.fail(toTcpError({ ...context, operation: "accept" }, { code: "ERR_SOCKET_CLOSED", message: "accept: the listener is closed" })),
      ),
      // One take per pull, so a consumer that stops early leaves the rest queued, not lost.
      connections: Stream.fromEffectRepeat(Queue.take(accepted)),
      setMd5Peer: (address, key) =>
        attempt({ ...context, operation: "setMd5Peer", address }, () => addon.setMd5Peer(fd, address, key)),
      setMinTtl: (ttl) => attempt({ ...context, operation: "setMinTtl" }, () => addon.setMinTtl(fd, ttl)),
    } satisfies TcpListener
  })

// ---------------------------------------------------------------------------------------------------
// Options on any socket

const socketFd = (socket: net.Socket | net.Server, operation: string): Effect.Effect<number, TcpError> => {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd
  return typeof fd === "number" && fd >= 0
    ? Effect.succeed(fd)
    : Effect.fail(new TcpError({ operation, code: "EBADF", message: `${operation}: the socket has no open handle (destroyed or not connected)` }))
}

/** Sets the TTL / hop limit of what `socket` sends from now on (any Node TCP socket or server). */
export const setSocketTtl = (socket: net.Socket | net.Server, ttl: number): Effect.Effect<void, TcpError, TcpAddon> =>
  Effect.gen(function* () {
    const addon = yield* TcpAddon
    const fd = yield* socketFd(socket, "setTtl")
    yield* attempt({ operation: "setTtl" }, () => addon.setTtl(fd, ttl))
  })

/** GTSM on any Node TCP socket or server: drop received packets with a lower TTL; 0 turns it off. */
export const setSocketMinTtl = (socket: net.Socket | net.Server, ttl: number): Effect.Effect<void, TcpError, TcpAddon> =>
  Effect.gen(function* () {
    const addon = yield* TcpAddon
    const fd = yield* socketFd(socket, "setMinTtl")
    yield* attempt({ operation: "setMinTtl" }, () => addon.setMinTtl(fd, ttl))
  })
