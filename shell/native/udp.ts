// UDP for the BFD shell through the native addon (shell/native/src/udp.c), as Effects. BFD single-hop
// (RFC 5881) needs what Node's dgram cannot give: a socket inside another network namespace, every
// packet sent with TTL 255, and the TTL of every received packet (anything but 255 must be discarded,
// §5), plus a source port from 49152-65535 (§4). The socket is a scoped resource; received datagrams are
// a Stream through a bounded queue that drops, and counts, what a slow consumer cannot take. Deciding
// what to do with a datagram (the TTL check included) is the BFD core's job; this module moves bytes.
import { Context, Effect, Layer, Random, Schema, Scope, Stream } from "effect"
import { defaultAddonPath, loadAddon, type NativeAddonLoadFailed, type NativeAddonMissing, type OperationContext as ErrorContext, operationErrorFields } from "./addon.ts"
import { makeHandleReader } from "./reader.ts"

/** A failed UDP operation; `code` is the errno name (EADDRINUSE, EACCES, ...) or an ERR_* code. */
export class UdpError extends Schema.TaggedError<UdpError>()("UdpError", {
  operation: Schema.String,
  address: Schema.optional(Schema.String),
  port: Schema.optional(Schema.Number),
  netnsPath: Schema.optional(Schema.String),
  code: Schema.String,
  syscall: Schema.optional(Schema.String),
  message: Schema.String,
}) {}

// ---------------------------------------------------------------------------------------------------
// The addon's raw surface (udp.c and reader.c)

declare const udpHandleBrand: unique symbol
export type UdpHandle = { readonly [udpHandleBrand]: true }

export interface NativeUdpOpenOptions {
  readonly address: string
  /** 0 lets the kernel choose. */
  readonly port: number
  /** TTL / hop limit of sent datagrams (1-255); the kernel's default when absent. */
  readonly ttl?: number | undefined
  /** Report each datagram's received TTL / hop limit. */
  readonly receiveTtl?: boolean | undefined
  /** Only send and receive through this interface (SO_BINDTODEVICE). */
  readonly interfaceName?: string | undefined
  readonly netnsPath?: string | undefined
  /** IPv6 sockets refuse IPv4 unless this is false (default true). */
  readonly v6Only?: boolean | undefined
}

export interface NativeDatagram {
  readonly data: Buffer
  readonly address: string
  readonly port: number
  /** Present when the socket was opened with receiveTtl. */
  readonly ttl?: number
  /** The address the datagram was sent to, and the interface it arrived on. */
  readonly destination?: string
  readonly interfaceIndex?: number
}

export interface NativeUdpStats {
  readonly received: number
  readonly sent: number
  /** Receive errors and truncated datagrams; such datagrams are lost. */
  readonly errors: number
  readonly open: boolean
  readonly reading: boolean
}

export interface UdpAddonApi {
  readonly udpOpen: (options: NativeUdpOpenOptions) => UdpHandle
  readonly udpLocalAddress: (handle: UdpHandle) => { readonly address: string; readonly port: number }
  readonly startReading: (handle: UdpHandle, onDatagram: (datagram: NativeDatagram) => void, onError?: (error: Error) => void) => void
  readonly stopReading: (handle: UdpHandle) => void
  /** Sends one datagram; returns the bytes sent. EAGAIN when the socket buffer is full. */
  readonly sendTo: (handle: UdpHandle, data: Uint8Array, address: string, port: number) => number
  readonly close: (handle: UdpHandle) => void
  readonly stats: (handle: UdpHandle) => NativeUdpStats
}

const addonFunctions = ["udpOpen", "udpLocalAddress", "startReading", "stopReading", "sendTo", "close", "stats"] as const

export class UdpAddon extends Context.Service<UdpAddon, UdpAddonApi>()("metallb-ts/shell/native/UdpAddon") {
  static readonly layer: Layer.Layer<UdpAddon, NativeAddonMissing | NativeAddonLoadFailed> = Layer.effect(
    UdpAddon,
    loadAddon<UdpAddonApi>(defaultAddonPath, addonFunctions),
  )
  static readonly layerAt = (path: string): Layer.Layer<UdpAddon, NativeAddonMissing | NativeAddonLoadFailed> =>
    Layer.effect(UdpAddon, loadAddon<UdpAddonApi>(path, addonFunctions))
}

// ---------------------------------------------------------------------------------------------------
// Typed operations

const toUdpError = (context: ErrorContext, cause: unknown): UdpError => new UdpError(operationErrorFields(context, cause))

const attempt = <A>(context: ErrorContext, f: () => A): Effect.Effect<A, UdpError> =>
  Effect.try({ try: f, catch: (cause) => toUdpError(context, cause) })

/** RFC 5881 §4: the source port of BFD Control packets. */
export const bfdSourcePorts = { min: 49152, max: 65535 } as const

export interface UdpOpenOptions extends Omit<NativeUdpOpenOptions, "port"> {
  /** A port, or a range to pick a free one from at random (e.g. `bfdSourcePorts`). */
  readonly port: number | { readonly min: number; readonly max: number }
  /** Random ports tried in a range before giving up with EADDRINUSE (default 32). */
  readonly portAttempts?: number | undefined
  /** Datagrams buffered for a slow `datagrams` consumer before new ones are dropped (default 1024). */
  readonly queueCapacity?: number | undefined
}

export interface Datagram {
  readonly data: Uint8Array
  readonly address: string
  readonly port: number
  /** The received TTL / hop limit; undefined unless the socket was opened with receiveTtl. */
  readonly ttl: number | undefined
  readonly destination: string | undefined
  readonly interfaceIndex: number | undefined
}

export interface UdpSocketStats extends NativeUdpStats {
  /** Datagrams received but dropped because the `datagrams` consumer fell behind. */
  readonly dropped: number
}

export interface UdpSocket {
  readonly localAddress: string
  readonly localPort: number
  readonly netnsPath: string | undefined
  readonly send: (data: Uint8Array, address: string, port: number) => Effect.Effect<number, UdpError>
  /**
   * Received datagrams. One consumer at a time; a receive error fails the stream, and running it again
   * resumes reading. The stream ends when the socket's scope closes.
   */
  readonly datagrams: Stream.Stream<Datagram, UdpError>
  readonly stats: Effect.Effect<UdpSocketStats>
}

const toDatagram = (d: NativeDatagram): Datagram => ({
  data: d.data,
  address: d.address,
  port: d.port,
  ttl: d.ttl,
  destination: d.destination,
  interfaceIndex: d.interfaceIndex,
})

const openHandle = (addon: UdpAddonApi, options: UdpOpenOptions): Effect.Effect<UdpHandle, UdpError> => {
  const { port: portOption, portAttempts: _attempts, queueCapacity: _capacity, ...rest } = options
  const open = (port: number) =>
    attempt({ operation: "open", address: options.address, port, netnsPath: options.netnsPath }, () =>
      addon.udpOpen({ ...rest, port }),
    )
  if (typeof portOption === "number") return open(portOption)
  const { min, max } = portOption
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
    return Effect.fail(
      new UdpError({ operation: "open", code: "ERR_INVALID_ARG_VALUE", message: `port range ${min}-${max} is not within 1-65535` }),
    )
  }
  const tries = (left: number): Effect.Effect<UdpHandle, UdpError> =>
    Effect.flatMap(Random.nextIntBetween(min, max), (port) =>
      open(port).pipe(Effect.catchIf((error) => error.code === "EADDRINUSE" && left > 1, () => tries(left - 1))),
    )
  return tries(options.portAttempts ?? 32)
}

/** Opens a UDP socket for the life of the surrounding Scope. */
export const openUdp = (options: UdpOpenOptions): Effect.Effect<UdpSocket, UdpError, UdpAddon | Scope.Scope> =>
  Effect.gen(function* () {
    const addon = yield* UdpAddon
    let endReaders = () => {}
    const handle = yield* Effect.acquireRelease(openHandle(addon, options), (handle) =>
      Effect.sync(() => {
        addon.close(handle)
        endReaders()
      }),
    )
    const local = addon.udpLocalAddress(handle)
    const context = (operation: string): ErrorContext => ({
      operation,
      address: local.address,
      port: local.port,
      netnsPath: options.netnsPath,
    })
    const reader = makeHandleReader({
      addon,
      handle,
      decode: toDatagram,
      toError: (cause, receive) => toUdpError(context(receive ? "receive" : "startReading"), cause),
      queueCapacity: options.queueCapacity ?? 1024,
    })
    endReaders = reader.end

    return {
      localAddress: local.address,
      localPort: local.port,
      netnsPath: options.netnsPath,
      send: (data, address, port) =>
        attempt({ operation: "send", address, port, netnsPath: options.netnsPath }, () => addon.sendTo(handle, data, address, port)),
      datagrams: reader.stream,
      stats: Effect.sync((): UdpSocketStats => ({ ...addon.stats(handle), dropped: reader.dropped() })),
    } satisfies UdpSocket
  })
