// Raw Ethernet frames through the native packet addon (shell/native/src/packet.c), as Effects: an
// AF_PACKET socket bound to one interface and EtherType (optionally in another network namespace) is a
// scoped resource; received frames are a Stream fed through a bounded queue that drops, and counts, what
// a slow consumer cannot take, because stalling the event loop for one socket would stall every
// protocol. For NDP the socket can join link-layer multicast addresses (solicited-node MACs of addresses
// the kernel does not own). The ARP/NDP responders of core/l2 decide what to send; this module only
// moves bytes.
import { Context, Effect, Layer, Schema, Scope, Stream } from "effect"
import { defaultAddonPath, loadAddon, NativeAddonLoadFailed, NativeAddonMissing, nativeErrorFields } from "./addon.ts"
import { makeHandleReader } from "./reader.ts"

export { defaultAddonPath, NativeAddonLoadFailed, NativeAddonMissing }

/** ETH_P_ALL: every EtherType. */
export const etherTypeAll = 0x0003

// ---------------------------------------------------------------------------------------------------
// Errors

/** A failed operation on a packet socket; `code` is the errno name (ENODEV, EPERM, ...) or an ERR_* code. */
export class PacketSocketError extends Schema.TaggedError<PacketSocketError>()("PacketSocketError", {
  operation: Schema.String,
  interfaceName: Schema.String,
  netnsPath: Schema.optional(Schema.String),
  code: Schema.String,
  syscall: Schema.optional(Schema.String),
  message: Schema.String,
}) {}

// ---------------------------------------------------------------------------------------------------
// The addon's raw surface (what packet.c and reader.c export)

declare const packetHandleBrand: unique symbol
/** An open socket inside the addon (a napi external). */
export type PacketHandle = { readonly [packetHandleBrand]: true }

export interface NativeInterfaceInfo {
  readonly index: number
  readonly mac: Buffer
  readonly mtu: number
}

export interface NativeStats {
  readonly received: number
  readonly sent: number
  /** Receive errors and oversized frames the kernel reported; such frames are lost. */
  readonly errors: number
  readonly open: boolean
  /** A startReading is in effect (a `frames` consumer is running). */
  readonly reading: boolean
}

export interface PacketAddonApi {
  readonly interfaceInfo: (name: string, netnsPath?: string) => NativeInterfaceInfo
  readonly openPacket: (interfaceName: string, etherType: number, netnsPath?: string) => PacketHandle
  readonly startReading: (handle: PacketHandle, onFrame: (frame: Buffer) => void, onError?: (error: Error) => void) => void
  readonly stopReading: (handle: PacketHandle) => void
  readonly send: (handle: PacketHandle, frame: Uint8Array) => number
  /**
   * Lets frames for a link-layer multicast address (6 bytes, group bit set) through the interface's
   * filter for as long as the socket is open. Counted: each add needs its own drop.
   */
  readonly addMulticastMembership: (handle: PacketHandle, mac: Uint8Array) => void
  readonly dropMulticastMembership: (handle: PacketHandle, mac: Uint8Array) => void
  readonly close: (handle: PacketHandle) => void
  readonly stats: (handle: PacketHandle) => NativeStats
}

const addonFunctions = [
  "interfaceInfo",
  "openPacket",
  "startReading",
  "stopReading",
  "send",
  "addMulticastMembership",
  "dropMulticastMembership",
  "close",
  "stats",
] as const

/** Loads the compiled addon from `path` (default: the build output). */
export const loadPacketAddon = (
  path: string = defaultAddonPath,
): Effect.Effect<PacketAddonApi, NativeAddonMissing | NativeAddonLoadFailed> => loadAddon<PacketAddonApi>(path, addonFunctions)

/** The loaded addon as a service, so the shell fails at startup (typed) when it is not built. */
export class PacketAddon extends Context.Service<PacketAddon, PacketAddonApi>()("metallb-ts/shell/native/PacketAddon") {
  static readonly layer: Layer.Layer<PacketAddon, NativeAddonMissing | NativeAddonLoadFailed> = Layer.effect(
    PacketAddon,
    loadPacketAddon(),
  )
  static readonly layerAt = (path: string): Layer.Layer<PacketAddon, NativeAddonMissing | NativeAddonLoadFailed> =>
    Layer.effect(PacketAddon, loadPacketAddon(path))
}

// ---------------------------------------------------------------------------------------------------
// Typed operations

interface ErrorContext {
  readonly operation: string
  readonly interfaceName: string
  readonly netnsPath: string | undefined
}

const toPacketSocketError = (context: ErrorContext, cause: unknown): PacketSocketError =>
  new PacketSocketError({
    operation: context.operation,
    // Caller options the addon may just have refused: only well-typed values make it into the error.
    interfaceName: String(context.interfaceName),
    ...(typeof context.netnsPath === "string" ? { netnsPath: context.netnsPath } : {}),
    ...nativeErrorFields(cause),
  })

const attempt = <A>(context: ErrorContext, f: () => A): Effect.Effect<A, PacketSocketError> =>
  Effect.try({ try: f, catch: (cause) => toPacketSocketError(context, cause) })

export interface InterfaceInfo {
  readonly name: string
  readonly index: number
  /** Six bytes. */
  readonly mac: Uint8Array
  readonly mtu: number
}

/** Index, MAC address and MTU of an interface, in `netnsPath`'s namespace when given. */
export const interfaceInfo = (
  interfaceName: string,
  options: { readonly netnsPath?: string | undefined } = {},
): Effect.Effect<InterfaceInfo, PacketSocketError, PacketAddon> =>
  Effect.gen(function* () {
    const addon = yield* PacketAddon
    return yield* attempt({ operation: "interfaceInfo", interfaceName, netnsPath: options.netnsPath }, () => {
      const info = addon.interfaceInfo(interfaceName, options.netnsPath)
      return { name: interfaceName, index: info.index, mac: new Uint8Array(info.mac), mtu: info.mtu }
    })
  })

export interface PacketSocketOptions {
  readonly interfaceName: string
  /** Host byte order, e.g. 0x0806 for ARP, 0x86dd for IPv6; `etherTypeAll` for every frame. */
  readonly etherType: number
  /** A network namespace file (e.g. /var/run/netns/<name>); the socket lives there. */
  readonly netnsPath?: string | undefined
  /** Frames buffered for a slow `frames` consumer before new ones are dropped (default 1024). */
  readonly queueCapacity?: number | undefined
}

export interface PacketSocketStats {
  readonly received: number
  readonly sent: number
  /** Frames lost to receive errors in the kernel interface. */
  readonly errors: number
  /** Frames received but dropped because the `frames` consumer fell behind. */
  readonly dropped: number
  readonly open: boolean
  readonly reading: boolean
}

export interface PacketSocket {
  readonly interfaceName: string
  readonly netnsPath: string | undefined
  readonly etherType: number
  /** Sends one whole Ethernet frame (destination, source, EtherType, payload); resolves to bytes sent. */
  readonly send: (frame: Uint8Array) => Effect.Effect<number, PacketSocketError>
  /**
   * Receives frames sent to a link-layer multicast address (e.g. the solicited-node MAC 33:33:ff:xx:xx:xx
   * of an IPv6 address the kernel does not own) until dropped or the socket closes. Only a MAC filter:
   * no MLD report is sent, so a switch that snoops MLD still needs a group join elsewhere.
   */
  readonly addMulticastMembership: (mac: Uint8Array) => Effect.Effect<void, PacketSocketError>
  readonly dropMulticastMembership: (mac: Uint8Array) => Effect.Effect<void, PacketSocketError>
  /**
   * Frames received on the interface (not the ones this host sends). One consumer at a time; a receive
   * error (e.g. ENETDOWN when the link goes away) fails the stream, and running it again resumes reading
   * on the same socket. The stream ends when the socket's scope closes.
   */
  readonly frames: Stream.Stream<Uint8Array, PacketSocketError>
  readonly stats: Effect.Effect<PacketSocketStats>
}

/** Opens an AF_PACKET socket for the life of the surrounding Scope. */
export const openPacketSocket = (
  options: PacketSocketOptions,
): Effect.Effect<PacketSocket, PacketSocketError, PacketAddon | Scope.Scope> =>
  Effect.gen(function* () {
    const addon = yield* PacketAddon
    const { interfaceName, etherType, netnsPath } = options
    const context = (operation: string): ErrorContext => ({ operation, interfaceName, netnsPath })

    let endReaders = () => {}
    const handle = yield* Effect.acquireRelease(
      attempt(context("openPacket"), () => addon.openPacket(interfaceName, etherType, netnsPath)),
      (handle) =>
        Effect.sync(() => {
          addon.close(handle)
          endReaders()
        }),
    )
    const reader = makeHandleReader({
      addon,
      handle,
      decode: (frame: Buffer): Uint8Array => frame,
      toError: (cause, receive) => toPacketSocketError(context(receive ? "receive" : "startReading"), cause),
      queueCapacity: options.queueCapacity ?? 1024,
    })
    endReaders = reader.end

    const send = (frame: Uint8Array) => attempt(context("send"), () => addon.send(handle, frame))
    const addMulticastMembership = (mac: Uint8Array) =>
      attempt(context("addMulticastMembership"), () => addon.addMulticastMembership(handle, mac))
    const dropMulticastMembership = (mac: Uint8Array) =>
      attempt(context("dropMulticastMembership"), () => addon.dropMulticastMembership(handle, mac))
    const stats = Effect.sync((): PacketSocketStats => ({ ...addon.stats(handle), dropped: reader.dropped() }))

    return {
      interfaceName,
      netnsPath,
      etherType,
      send,
      addMulticastMembership,
      dropMulticastMembership,
      frames: reader.stream,
      stats,
    } satisfies PacketSocket
  })
