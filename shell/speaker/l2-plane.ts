// The Layer 2 data plane of a speaker: one raw socket per interface feeding core/l2's responder (ARP
// and NDP answers for the addresses this node owns) and announcer (gratuitous ARP / unsolicited NA on
// taking ownership, repeated on its schedule). The core decides every frame; this module moves bytes,
// keeps the clock, and counts. Ownership comes from the speaker's node machine (core/speaker/node) as
// claims and releases, and the interfaces from its rescans; one driver fiber calls all of them in order,
// so an ownership change and an interface change can no longer overwrite each other.
import { Effect, Exit, Fiber, Ref, Schedule, Scope, Stream } from "effect"
import {
  type AnnouncerOutput,
  type AnnouncerState,
  defaultAnnouncer,
  step as announce,
  type AnnouncerInput,
} from "../../core/l2/announcer.ts"
import { countAnnouncements, countResponse, type L2Counters, noCounters } from "../../core/l2/counters.ts"
import { LayeredMap } from "../../core/collections/layered-map.ts"
import { encodeFrame } from "../../core/l2/frame.ts"
import { macToBytes, type Mac } from "../../core/l2/mac.ts"
import { multicastMacOf, solicitedNodeAddress } from "../../core/l2/ipv6.ts"
import { addressKey, type L2Interface, type OwnershipChanged } from "../../core/l2/ownership.ts"
import { applyOwnership, emptyResponder, respondToBytes, type ResponderState } from "../../core/l2/responder.ts"
import type { Address } from "../../core/net/address.ts"
import { etherTypeAll, openPacketSocket, PacketAddon, type PacketSocket, type PacketSocketError } from "../native/packet.ts"

export interface L2PlaneOptions {
  readonly interfaces: ReadonlyArray<{ readonly name: string; readonly mac: Mac }>
  /** Open the sockets in this network namespace (tests and the lab); the node's own otherwise. */
  readonly netnsPath?: string
  readonly announcer?: AnnouncerState
  /** Wall clock in ms; injectable for tests. */
  readonly nowMs?: () => number
}

export interface OwnedAddress {
  readonly address: Address
  /** Interface names to answer and announce on. */
  readonly interfaces: ReadonlyArray<string>
}

export interface L2Plane {
  /**
   * Answer and announce the address on these interfaces too (core/speaker/node decides; the plane only
   * applies). An interface it has no socket on yet is taken up when setInterfaces adds it.
   */
  readonly claim: (address: Address, interfaces: ReadonlyArray<string>) => Effect.Effect<void>
  /** Stop answering for the address on these interfaces. */
  readonly release: (address: Address, interfaces: ReadonlyArray<string>) => Effect.Effect<void>
  /** Announce an address again now (a conflict seen, or a graceful hand-over). */
  readonly reannounce: (address: Address) => Effect.Effect<void>
  /**
   * The interfaces to hold sockets on from now (a rescan): new ones get a socket and a reader, gone ones
   * lose theirs. What is owned on a gone interface is released by the caller first.
   */
  readonly setInterfaces: (interfaces: ReadonlyArray<{ readonly name: string; readonly mac: Mac }>) => Effect.Effect<void>
  /** This node is leaving: keep answering requests, announce nothing more (core/l2/announcer Silence). */
  readonly silence: Effect.Effect<void>
  /** The address -> interfaces answered on now. */
  readonly owned: Effect.Effect<ReadonlyMap<string, OwnedAddress>>
  readonly counters: Effect.Effect<L2Counters>
  /** Frames that could not be written (counted, logged). */
  readonly sendFailures: Effect.Effect<number>
}

const ARP = 0x0806
const IPV6 = 0x86dd

/** EtherType of an Ethernet frame (after at most one 802.1Q tag), to skip unrelated traffic cheaply. */
const etherTypeOf = (frame: Uint8Array): number => {
  if (frame.length < 14) return -1
  const outer = (frame[12]! << 8) | frame[13]!
  return outer === 0x8100 && frame.length >= 18 ? (frame[16]! << 8) | frame[17]! : outer
}

export const makeL2Plane = (options: L2PlaneOptions): Effect.Effect<L2Plane, PacketSocketError, PacketAddon | Scope.Scope> =>
  Effect.gen(function* () {
    const nowMs = options.nowMs ?? (() => Date.now())
    /** The interfaces answered and announced on; setInterfaces changes them (MetalLB rescans every 10 s). */
    let interfaces: ReadonlyArray<L2Interface> = options.interfaces
    const scope = yield* Effect.scope
    // Kept for setInterfaces, which opens sockets after construction.
    const addon = yield* PacketAddon
    // Each socket in a scope of its own, so a broken one can be replaced (see the reading loop below).
    const sockets = new Map<string, { readonly socket: PacketSocket; readonly scope: Scope.Closeable }>()
    const openOn = (name: string) =>
      Effect.gen(function* () {
        const own = yield* Scope.fork(scope)
        const socket = yield* openPacketSocket({
          interfaceName: name,
          etherType: etherTypeAll,
          ...(options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }),
        }).pipe(Scope.provide(own), Effect.onError(() => Scope.close(own, Exit.void)))
        sockets.set(name, { socket, scope: own })
        return socket
      })
    for (const iface of interfaces) yield* openOn(iface.name)
    const responder = yield* Ref.make<ResponderState>(emptyResponder)
    const announcer = yield* Ref.make<AnnouncerState>(options.announcer ?? defaultAnnouncer)
    const counters = yield* Ref.make<L2Counters>(noCounters)
    const owned = yield* Ref.make<LayeredMap<string, OwnedAddress>>(LayeredMap.of([]))
    const sendFailures = yield* Ref.make(0)
    const wake = yield* Ref.make<Fiber.Fiber<void> | undefined>(undefined)

    const send = (ifaceName: string, frame: Uint8Array) => {
      const socket = sockets.get(ifaceName)?.socket
      if (socket === undefined) return Effect.succeed(false)
      return socket.send(frame).pipe(
        Effect.as(true),
        Effect.catch((error) =>
          Ref.update(sendFailures, (n) => n + 1).pipe(
            Effect.andThen(Effect.logWarning(`l2: sending on ${ifaceName} failed: ${error.message}`)),
            Effect.as(false),
          )),
      )
    }

    const runAnnouncer = (input: AnnouncerInput): Effect.Effect<void> =>
      Effect.gen(function* () {
        const outputs = yield* Ref.modify(announcer, (s) => {
          const t = announce(s, input)
          return [t.outputs, t.state] as const
        })
        yield* handleAnnouncements(outputs)
      })

    const handleAnnouncements = (outputs: ReadonlyArray<AnnouncerOutput>): Effect.Effect<void> =>
      Effect.gen(function* () {
        yield* Ref.update(counters, (c) => countAnnouncements(c, outputs))
        for (const output of outputs) {
          if (output._tag === "Send") {
            yield* send(output.iface, encodeFrame(output.frame))
          } else {
            const delayMs = Math.max(0, output.atMs - nowMs())
            const previous = yield* Ref.get(wake)
            // A Tick runs on the pending wake-up's own fiber: interrupting that would end the schedule
            // after its first timed frame (no +300 ms retry, no 1.1 s repeats past the neighbours' locktime).
            if (previous !== undefined && previous !== (yield* Effect.fiber)) yield* Fiber.interrupt(previous)
            const fiber = yield* Effect.sleep(`${delayMs} millis`).pipe(
              Effect.andThen(Effect.suspend(() => runAnnouncer({ _tag: "Tick", nowMs: nowMs() }))),
              Effect.forkIn(scope),
            )
            yield* Ref.set(wake, fiber)
          }
        }
      })

    const receive = (iface: L2Interface, frame: Uint8Array) =>
      Effect.gen(function* () {
        const type = etherTypeOf(frame)
        if (type !== ARP && type !== IPV6) return
        const response = respondToBytes(yield* Ref.get(responder), frame, iface)
        let written = 0
        for (const reply of response.replies) if (yield* send(iface.name, encodeFrame(reply))) written += 1
        yield* Ref.update(counters, (c) => countResponse(c, iface.name, { ...response.counters, responsesSent: written }))
        if (response.reason._tag === "Answered") {
          yield* runAnnouncer({ _tag: "RequestSeen", address: response.reason.address, nowMs: nowMs() })
        }
        // Another station claims an address we own: the announcer answers it if we still own it a moment later.
        if (response.reason._tag === "Conflict") {
          yield* runAnnouncer({ _tag: "ConflictSeen", address: response.reason.address, nowMs: nowMs() })
        }
      })

    /** Each interface's reading loop (it owns the interface's socket from the first failure on). */
    const readers = new Map<string, Fiber.Fiber<unknown, unknown>>()
    const startReading = (iface: L2Interface) => Effect.gen(function* () {
      // Failed reads in a row: an interface taken down fails every reopen until it comes back, so only the
      // first failure of a streak is logged (and then about once a minute), and the recovery.
      let failures = 0
      const recovered = Effect.suspend(() => {
        if (failures === 0) return Effect.void
        const after = failures
        failures = 0
        return Effect.logInfo(`l2: receiving on ${iface.name} again after ${after} failed attempts`)
      })
      // A receive error (the link went down) fails the stream. Reading again on the same socket does
      // not recover: libuv reports the socket's pending error (POLLERR) as EBADF and the addon's reader
      // stops without consuming it, so every restart fails at once. A fresh socket starts clean; the
      // kernel re-arms packet sockets when the link comes back up.
      const readOnce = Effect.gen(function* () {
        const current = sockets.get(iface.name)
        const socket = current?.socket ?? (yield* openOn(iface.name))
        if (current === undefined) {
          // A fresh socket has no multicast memberships: join the groups of what we own here again.
          for (const o of (yield* Ref.get(owned)).values()) if (o.interfaces.includes(iface.name)) yield* membership(iface.name, o.address, true)
        }
        yield* Stream.runForEach(socket.frames, (frame) => (failures === 0 ? receive(iface, frame) : Effect.andThen(recovered, receive(iface, frame)))).pipe(
          Effect.tapError(() => {
            const broken = sockets.get(iface.name)
            if (broken === undefined) return Effect.void
            sockets.delete(iface.name)
            return Scope.close(broken.scope, Exit.void)
          }),
        )
      })
      const fiber = yield* readOnce.pipe(
        Effect.tapError((error) => {
          failures += 1
          return failures === 1 || failures % 300 === 0
            ? Effect.logWarning(`l2: receiving on ${iface.name}: ${error.message}; reopening every 200 ms (${failures} failed so far)`)
            : Effect.void
        }),
        Effect.retry(Schedule.spaced("200 millis")),
        Effect.forkIn(scope),
      )
      readers.set(iface.name, fiber)
    })
    for (const iface of interfaces) yield* startReading(iface)

    // NDP: a real NIC filters multicast, so the solicited-node group of every owned IPv6 address is
    // joined on the interface's socket (veths pass everything, which is why the lab cannot show it).
    const groupMac = (address: Address) => macToBytes(multicastMacOf(solicitedNodeAddress(address)))
    const membership = (ifaceName: string, address: Address, join: boolean) => {
      const socket = sockets.get(ifaceName)?.socket
      if (socket === undefined || address.family !== "ipv6") return Effect.void
      const mac = groupMac(address)
      return (join ? socket.addMulticastMembership(mac) : socket.dropMulticastMembership(mac)).pipe(
        Effect.catch((error) => Effect.logWarning(`l2: multicast membership on ${ifaceName}: ${error.message}`)),
      )
    }

    const change = (address: Address, ifaceName: string, isOwned: boolean): OwnershipChanged | undefined => {
      const iface = interfaces.find((i) => i.name === ifaceName)
      return iface === undefined ? undefined : changeOn(iface, address, isOwned)
    }
    const changeOn = (iface: L2Interface, address: Address, isOwned: boolean): OwnershipChanged =>
      ({ _tag: "OwnershipChanged", address, iface, owned: isOwned, nowMs: nowMs() })
    /** One change of ownership, in order: the responder, the interface's multicast groups, the announcer. */
    const apply = (c: OwnershipChanged) =>
      Effect.gen(function* () {
        yield* Ref.update(responder, (s) => applyOwnership(s, c))
        yield* membership(c.iface.name, c.address, c.owned)
        yield* runAnnouncer(c)
      })

    /** Applies one claim or release, interface by interface; changes nothing else. */
    const own = (address: Address, names: ReadonlyArray<string>, isOwned: boolean) =>
      Effect.gen(function* () {
        const key = addressKey(address)
        const before = (yield* Ref.get(owned)).get(key)?.interfaces ?? []
        const changed = names.filter((n) => before.includes(n) !== isOwned)
        const after = isOwned ? [...before, ...changed] : before.filter((n) => !changed.includes(n))
        // O(sqrt n) a change, not a copy of every owned address (a takeover claims thousands: issue 17).
        yield* Ref.update(owned, (m) => m.with([[key, after.length === 0 ? undefined : { address, interfaces: after }]]))
        for (const name of changed) {
          const c = change(address, name, isOwned)
          if (c !== undefined) yield* apply(c)
        }
      })

    // An interface that went away (or changed its MAC): its reader stops and its socket closes. New ones
    // get a socket and a reader, and the addresses already claimed on them are answered and announced.
    const setInterfaces = (next: ReadonlyArray<{ readonly name: string; readonly mac: Mac }>) =>
      Effect.gen(function* () {
        const same = (a: L2Interface) => next.some((b) => b.name === a.name && b.mac === a.mac)
        for (const gone of interfaces.filter((i) => !same(i))) {
          const reader = readers.get(gone.name)
          readers.delete(gone.name)
          if (reader !== undefined) yield* Fiber.interrupt(reader)
          const socket = sockets.get(gone.name)
          sockets.delete(gone.name)
          if (socket !== undefined) yield* Scope.close(socket.scope, Exit.void)
          interfaces = interfaces.filter((i) => i.name !== gone.name)
        }
        for (const added of next.filter((n) => !interfaces.some((i) => i.name === n.name))) {
          const iface: L2Interface = { name: added.name, mac: added.mac }
          interfaces = [...interfaces, iface]
          // Opened here so the first announcements below go out; a failure is left to the reader's retries.
          yield* openOn(iface.name).pipe(Effect.catch((error) => Effect.logWarning(`l2: opening ${iface.name}: ${error.message}`)))
          yield* startReading(iface)
          for (const o of (yield* Ref.get(owned)).values()) if (o.interfaces.includes(iface.name)) yield* apply(changeOn(iface, o.address, true))
        }
      }).pipe(Effect.provideService(PacketAddon, addon))

    return {
      // Losses first (stop answering before anything else) is the caller's order: core/speaker/node.
      claim: (address, names) => own(address, names, true),
      release: (address, names) => own(address, names, false),
      setInterfaces,
      owned: Ref.get(owned),
      reannounce: (address) => runAnnouncer({ _tag: "Reannounce", address, nowMs: nowMs() }),
      silence: Effect.suspend(() => runAnnouncer({ _tag: "Silence", nowMs: nowMs() })),
      counters: Ref.get(counters),
      sendFailures: Ref.get(sendFailures),
    }
  })
