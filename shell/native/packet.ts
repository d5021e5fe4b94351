// Raw Ethernet frames through the native packet addon (shell/native/src/packet.c), as Effects: an
// AF_PACKET socket bound to one interface and EtherType (optionally in another network namespace) is a
// scoped resource; received frames are a Stream fed through a bounded queue that drops, and counts, what
// a slow consumer cannot take, because stalling the event loop for one socket would stall every
// protocol. The ARP/NDP responders of core/l2 decide what to send; this module only moves bytes.
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import { Cause, Context, Effect, Layer, Queue, Schema, Scope, Stream } from "effect"

/** Where `npm run build:native` puts the addon. */
export const defaultAddonPath: string = fileURLToPath(new URL("./build/Release/packet.node", import.meta.url))

/** ETH_P_ALL: every EtherType. */
export const etherTypeAll = 0x0003

// ---------------------------------------------------------------------------------------------------
// Errors

export class NativeAddonMissing extends Schema.TaggedError<NativeAddonMissing>()("NativeAddonMissing", {
  path: Schema.String,
  message: Schema.String,
}) {}

export class NativeAddonLoadFailed extends Schema.TaggedError<NativeAddonLoadFailed>()("NativeAddonLoadFailed", {
  path: Schema.String,
  message: Schema.String,
}) {}

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
// The addon's raw surface (what packet.c exports)

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
  readonly close: (handle: PacketHandle) => void
  readonly stats: (handle: PacketHandle) => NativeStats
}

const addonFunctions = ["interfaceInfo", "openPacket", "startReading", "stopReading", "send", "close", "stats"] as const

const require = createRequire(import.meta.url)

/** Loads the compiled addon from `path` (default: the build output). */
export const loadPacketAddon = (
  path: string = defaultAddonPath,
): Effect.Effect<PacketAddonApi, NativeAddonMissing | NativeAddonLoadFailed> =>
  Effect.suspend((): Effect.Effect<PacketAddonApi, NativeAddonMissing | NativeAddonLoadFailed> => {
    if (!existsSync(path)) {
      return Effect.fail(
        new NativeAddonMissing({
          path,
          message: `the native packet addon is not built (no ${path}); run \`npm run build:native\``,
        }),
      )
    }
    return Effect.try({
      try: () => require(path) as Record<string, unknown>,
      catch: (cause) =>
        new NativeAddonLoadFailed({
          path,
          message: `could not load the native packet addon ${path}: ${cause instanceof Error ? cause.message : String(cause)}; rebuild it with \`npm run build:native\``,
        }),
    }).pipe(
      Effect.flatMap((exports) => {
        const missing = addonFunctions.filter((name) => typeof exports[name] !== "function")
        return missing.length === 0
          ? Effect.succeed(exports as unknown as PacketAddonApi)
          : Effect.fail(
              new NativeAddonLoadFailed({
                path,
                message: `${path} is not the packet addon (missing ${missing.join(", ")}); rebuild it with \`npm run build:native\``,
              }),
            )
      }),
    )
  })

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

const toPacketSocketError = (context: ErrorContext, cause: unknown): PacketSocketError => {
  const error = cause as { code?: unknown; syscall?: unknown; message?: unknown }
  return new PacketSocketError({
    operation: context.operation,
    interfaceName: context.interfaceName,
    ...(context.netnsPath === undefined ? {} : { netnsPath: context.netnsPath }),
    code: typeof error.code === "string" ? error.code : "EUNKNOWN",
    ...(typeof error.syscall === "string" ? { syscall: error.syscall } : {}),
    message: typeof error.message === "string" ? error.message : String(cause),
  })
}

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
    const queueCapacity = options.queueCapacity ?? 1024
    const context = (operation: string): ErrorContext => ({ operation, interfaceName, netnsPath })

    // Queues of the running `frames` consumers, ended when the socket closes.
    const readers = new Set<Queue.Queue<Uint8Array, PacketSocketError | Cause.Done>>()
    let dropped = 0

    const handle = yield* Effect.acquireRelease(
      attempt(context("openPacket"), () => addon.openPacket(interfaceName, etherType, netnsPath)),
      (handle) =>
        Effect.sync(() => {
          addon.close(handle)
          // Whoever is still reading sees the end of the stream rather than silence.
          for (const queue of readers) Queue.endUnsafe(queue)
          readers.clear()
        }),
    )

    const frames = Stream.callback<Uint8Array, PacketSocketError>(
      (queue) =>
        Effect.acquireRelease(
          attempt(context("startReading"), () => {
            addon.startReading(
              handle,
              (frame) => {
                if (!Queue.offerUnsafe(queue, frame)) dropped += 1
              },
              (error) => {
                Queue.failCauseUnsafe(queue, Cause.fail(toPacketSocketError(context("receive"), error)))
              },
            )
            readers.add(queue)
          }),
          () =>
            Effect.sync(() => {
              readers.delete(queue)
              if (addon.stats(handle).open) addon.stopReading(handle)
            }),
        ),
      { bufferSize: queueCapacity, strategy: "dropping" },
    )

    const send = (frame: Uint8Array) => attempt(context("send"), () => addon.send(handle, frame))

    const stats = Effect.sync((): PacketSocketStats => ({ ...addon.stats(handle), dropped }))

    return { interfaceName, netnsPath, etherType, send, frames, stats } satisfies PacketSocket
  })
