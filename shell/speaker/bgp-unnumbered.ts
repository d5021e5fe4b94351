// BGP unnumbered's dial target: the neighbour's IPv6 link-local address on the peer's interface,
// learned as FRR learns it, from the neighbour's Router Advertisements (core/bgp/router-discovery.ts
// decides which frames are valid advertisements). An AF_PACKET socket on the interface reads IPv6
// frames; until a neighbour is known a Router Solicitation goes out every few seconds (FRR answers
// one at once, so the first dial does not wait for a periodic advertisement). Every later
// advertisement updates the address, so a replaced router is dialled at its new address on the next
// attempt. The speaker also advertises itself (Router Lifetime 0) at once and every 10 s, since FRR
// accepts an interface peer's connection only from a neighbour it has heard advertise; its own
// link-local address is the one the kernel sends from to ff02::1 on the interface. The transport
// dials "<link-local>%<interface>": the zone picks the interface, as a link-local address means
// nothing without one.
import { Cause, Effect, Exit, Result, Scope, Stream } from "effect"
import { isLinkLocal, routerAdvertisementFrame, routerAdvertisementSource, routerSolicitationFrame } from "../../core/bgp/router-discovery.ts"
import type { Mac } from "../../core/l2/mac.ts"
import { formatAddress, parseAddress } from "../../core/net/address.ts"
import { type InterfaceInfo, interfaceInfo, openPacketSocket, PacketAddon, type PacketAddonApi } from "../native/packet.ts"
import type { BfdLink } from "./bfd-transport.ts"
import type { Transport } from "./bgp-peer.ts"
import type { Fibers } from "./fibers.ts"

const ethertypeIpv6 = 0x86dd
/** RFC 4861 §10 RTR_SOLICITATION_INTERVAL. */
export const solicitIntervalMs = 4_000
/** FRR's interval for the advertisements of an interface with an unnumbered peer. */
export const advertiseIntervalMs = 10_000

/** The addon's packet functions, loaded once; a missing or broken addon is a typed error. */
export const packetAddon = Effect.provide(Effect.service(PacketAddon), PacketAddon.layer)

export interface LinkLocalNeighbour {
  readonly interfaceName: string
  /** The last advertising router's link-local address, if one has been heard. */
  readonly current: () => string | undefined
  /** The neighbour's address, waiting up to `timeoutMs` for its first advertisement. */
  readonly address: (timeoutMs: number) => Promise<string>
  readonly close: () => Promise<void>
}

export interface NeighbourOptions {
  readonly interfaceName: string
  readonly netnsPath?: string
  /** The address the kernel sends from towards a destination (the TCP addon's sourceAddress). */
  readonly sourceAddress: (destination: string) => string
  readonly solicitIntervalMs?: number
  readonly advertiseIntervalMs?: number
  readonly onLog?: (message: string) => void
  /** The owner's fibers: the read loop is its, the socket lives in a scope of the owner's. */
  readonly fibers: Fibers
}

const macText = (bytes: Uint8Array): Mac => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":") as Mac

/** Starts listening for the neighbour's advertisements on the interface (and soliciting one). */
export const findLinkLocalNeighbour = async (addon: PacketAddonApi, options: NeighbourOptions): Promise<LinkLocalNeighbour> => {
  const { fibers } = options
  const scope = fibers.child()
  const netns = options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }
  const provide = <A, E>(effect: Effect.Effect<A, E, PacketAddon | Scope.Scope>) =>
    fibers.run(effect.pipe(Scope.provide(scope), Effect.provideService(PacketAddon, addon)))
  let info: InterfaceInfo
  let socket: Effect.Success<ReturnType<typeof openPacketSocket>>
  try {
    info = await provide(interfaceInfo(options.interfaceName, netns))
    socket = await provide(openPacketSocket({ interfaceName: options.interfaceName, etherType: ethertypeIpv6, ...netns }))
  } catch (error) {
    await fibers.close(scope)
    throw new Error(`BGP unnumbered on interface ${JSON.stringify(options.interfaceName)}: ${error instanceof Error ? error.message : String(error)}`)
  }
  let neighbour: string | undefined
  let closed = false
  const waiters = new Set<(address: string) => void>()
  const heard = (frame: Uint8Array) => {
    const source = routerAdvertisementSource(frame)
    if (Result.isFailure(source)) return
    const text = formatAddress(source.success)
    if (text !== neighbour) options.onLog?.(`interface ${options.interfaceName}: neighbour ${text} (Router Advertisement)`)
    neighbour = text
    for (const waiter of waiters) waiter(text)
    waiters.clear()
  }
  // A receive error (the link went down) ends one run of the stream; read again after a pause.
  const readLoop = Effect.gen(function* () {
    while (!closed) {
      const exit = yield* Effect.exit(Stream.runForEach(socket.frames, (frame) => Effect.sync(() => heard(frame))))
      if (Exit.isFailure(exit) && !closed) options.onLog?.(`interface ${options.interfaceName}: ${Cause.pretty(exit.cause)}`)
      yield* Effect.sleep(1_000)
    }
  })
  // A fiber of the neighbour's scope: close() (or the owner's scope closing) interrupts it.
  fibers.fork(readLoop.pipe(Effect.forkIn(scope)))
  const mac = macText(info.mac)
  const solicitation = routerSolicitationFrame(mac)
  const send = (frame: Uint8Array, what: string) => {
    const sent = fibers.now(socket.send(frame))
    if (Exit.isFailure(sent)) options.onLog?.(`interface ${options.interfaceName}: ${what} not sent: ${Cause.pretty(sent.cause)}`)
  }
  const solicit = () => {
    if (!closed && neighbour === undefined) send(solicitation, "Router Solicitation")
  }
  const advertise = () => {
    if (closed) return
    // Asked each time: the address can change (the link flapped, the interface was recreated).
    let ours: string
    try {
      ours = options.sourceAddress(`ff02::1%${options.interfaceName}`)
    } catch (error) {
      options.onLog?.(`interface ${options.interfaceName}: no link-local address to advertise from: ${error instanceof Error ? error.message : String(error)}`)
      return
    }
    const parsed = parseAddress(ours.replace(/%.*$/, ""))
    if (Result.isFailure(parsed) || !isLinkLocal(parsed.success)) {
      options.onLog?.(`interface ${options.interfaceName}: the kernel sends from ${ours}, not a link-local address; not advertising`)
      return
    }
    send(routerAdvertisementFrame(mac, parsed.success), "Router Advertisement")
  }
  solicit()
  advertise()
  const solicitTimer = setInterval(solicit, options.solicitIntervalMs ?? solicitIntervalMs)
  const advertiseTimer = setInterval(advertise, options.advertiseIntervalMs ?? advertiseIntervalMs)
  solicitTimer.unref()
  advertiseTimer.unref()
  return {
    interfaceName: options.interfaceName,
    current: () => neighbour,
    address: (timeoutMs) => {
      if (neighbour !== undefined) return Promise.resolve(neighbour)
      if (closed) return Promise.reject(new Error(`interface ${options.interfaceName}: neighbour discovery closed`))
      return new Promise((resolve, reject) => {
        const waiter = (address: string) => {
          clearTimeout(timeout)
          resolve(address)
        }
        const timeout = setTimeout(() => {
          waiters.delete(waiter)
          reject(new Error(`no Router Advertisement on interface ${options.interfaceName} within ${timeoutMs} ms: the neighbour's link-local address is unknown`))
        }, timeoutMs)
        waiters.add(waiter)
      })
    },
    close: async () => {
      if (closed) return
      closed = true
      clearInterval(solicitTimer)
      clearInterval(advertiseTimer)
      waiters.clear()
      await fibers.close(scope)
    },
  }
}

/**
 * Dials the neighbour's current link-local address through `dial` (a numbered transport for that
 * address): waits for the address within `timeoutMs`, then hands over. Cancelling stops either step.
 */
export const unnumberedTransport = (neighbour: LinkLocalNeighbour, timeoutMs: number, dial: (peerAddress: string) => Transport): Transport => ({
  connect: (connected, failed) => {
    let cancelled = false
    let cancelDial: (() => void) | void = undefined
    neighbour.address(timeoutMs).then(
      (address) => {
        if (cancelled) return
        cancelDial = dial(`${address}%${neighbour.interfaceName}`).connect(connected, failed)
      },
      (error: unknown) => {
        if (!cancelled) failed(error instanceof Error ? error.message : String(error))
      },
    )
    return () => {
      cancelled = true
      cancelDial?.()
    }
  },
})

/**
 * The BFD link of an unnumbered session: single-hop BFD to the neighbour's link-local address on the
 * interface, opened once the address is known (packets the session sends before are dropped, which
 * BFD takes as loss while it is Down anyway) and opened again when a new router advertises.
 */
export const neighbourBfdLink = (neighbour: LinkLocalNeighbour, open: (peerAddress: string) => Promise<BfdLink>, onLog?: (message: string) => void): BfdLink => {
  const listeners: Array<(bytes: Uint8Array, ttl: number | undefined) => void> = []
  let current: { readonly address: string; readonly link: Promise<BfdLink> } | undefined
  let opened: BfdLink | undefined
  let closed = false
  const linkFor = (address: string): Promise<BfdLink> => {
    if (current?.address === address) return current.link
    const previous = current
    const link = open(`${address}%${neighbour.interfaceName}`).then((opened) => {
      for (const listener of listeners) opened.onReceive(listener)
      return opened
    })
    void link.then((ready) => {
      if (current?.link === link) opened = ready
    }, () => undefined)
    link.catch((error: unknown) => {
      onLog?.(`BFD to ${address} on ${neighbour.interfaceName}: ${error instanceof Error ? error.message : String(error)}`)
      if (current?.link === link) current = undefined
    })
    current = { address, link }
    void previous?.link.then((old) => old.close(), () => undefined)
    return link
  }
  return {
    /** The open link's source port; 0 while no neighbour is known yet. */
    get localPort() {
      return opened?.localPort ?? 0
    },
    send: (bytes) => {
      const address = neighbour.current()
      if (closed || address === undefined) return
      void linkFor(address).then((link) => link.send(bytes), () => undefined)
    },
    onReceive: (listener) => {
      listeners.push(listener)
    },
    close: async () => {
      closed = true
      const last = current
      current = undefined
      opened = undefined
      await last?.link.then((link) => link.close(), () => undefined)
    },
  }
}
