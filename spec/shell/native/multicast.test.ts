// Link-layer multicast membership on packet sockets, as the NDP responder needs it: a Neighbor
// Solicitation for an address the kernel does not own goes to that address's solicited-node MAC
// (33:33:ff:xx:xx:xx), which an interface with a multicast filter drops unless someone joined it.
//
// A veth delivers every frame whatever its MAC, so the receiving side is a macvlan on top of the veth:
// macvlan filters multicast in software, by a 256-bit hash of the MACs in its list, as a NIC does in
// hardware. Two kernel facts shape the test: the hash is salted per device, so our MAC can collide with
// one already listed (about 1 in 100; the device is then recreated with a new salt); and macvlan
// recomputes its filter before the address list is synced, so after a drop the stale bit stays set until
// the next change. The drop is therefore checked in the device's address list (`ip maddr`), which is
// what the socket controls.
import { Effect, type Scope, Stream } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { openPacketSocket, PacketAddon, type PacketSocket } from "../../../shell/native/packet.ts"
import { eventually, type Host, Lab, rootSkipReason, sleep } from "../../support/netns.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { ensureAddonBuilt } from "./build-addon.ts"

const etherTypeIpv6 = 0x86dd
const solicitedNodeMac = Uint8Array.of(0x33, 0x33, 0xff, 0x00, 0x00, 0x05)
const allNodesMac = Uint8Array.of(0x33, 0x33, 0x00, 0x00, 0x00, 0x01)

const macBytes = (mac: string) => Uint8Array.from(mac.split(":").map((part) => Number.parseInt(part, 16)))
const ipv6Bytes = (groups: ReadonlyArray<number>) => {
  const bytes = new Uint8Array(16)
  groups.forEach((group, i) => new DataView(bytes.buffer).setUint16(2 * i, group))
  return bytes
}

/**
 * A Neighbor Solicitation (RFC 4861 §4.3) for 2001:db8::5 from 2001:db8::1, sent to `destinationMac`,
 * with `marker` in the IPv6 flow label so the test can tell the frames apart.
 */
const neighborSolicitation = (sourceMac: Uint8Array, destinationMac: Uint8Array, destinationIp: Uint8Array, marker: number) => {
  const frame = new Uint8Array(14 + 40 + 32)
  const view = new DataView(frame.buffer)
  frame.set(destinationMac, 0)
  frame.set(sourceMac, 6)
  view.setUint16(12, etherTypeIpv6)
  view.setUint32(14, (6 << 28) | marker)
  view.setUint16(18, 32)
  frame[20] = 58
  frame[21] = 255
  frame.set(ipv6Bytes([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), 22)
  frame.set(destinationIp, 38)
  frame[54] = 135
  frame.set(ipv6Bytes([0x2001, 0xdb8, 0, 0, 0, 0, 0, 5]), 62)
  frame[78] = 1
  frame[79] = 1
  frame.set(sourceMac, 80)
  // ICMPv6 checksum over the pseudo-header (addresses, length, next header) and the message.
  let sum = 32 + 58
  for (let i = 22; i < 54; i += 2) sum += view.getUint16(i)
  for (let i = 54; i < frame.length; i += 2) sum += view.getUint16(i)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  view.setUint16(56, ~sum & 0xffff)
  return frame
}

const markerOf = (frame: Uint8Array) => new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(14) & 0xfffff

const multicastList = async (host: Host, device: string) => (await host.run("ip", ["maddr", "show", "dev", device])).stdout

/** A macvlan on `lower` with IPv6 off, so its multicast list (and the chance of a collision) stays small. */
const createMacvlan = async (host: Host, lower: string, name: string) => {
  await host.run("ip", ["link", "add", name, "link", lower, "type", "macvlan", "mode", "bridge"])
  await host.run("sysctl", ["-qw", `net.ipv6.conf.${name}.disable_ipv6=1`])
  await host.run("ip", ["link", "set", name, "up"])
}

const skipReason = rootSkipReason()

describe.skipIf(skipUnlessCi(skipReason))(`packet socket multicast membership${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  beforeAll(() => {
    ensureAddonBuilt()
  }, 300_000)

  it("a solicitation to 33:33:ff:00:00:05 reaches the packet socket only after addMulticastMembership", async () => {
    await using lab = await Lab.create("mcast")
    const sender = await lab.host("sender")
    const speaker = await lab.host("speaker")
    const { aName: senderIf, bName: lowerIf } = await lab.link(sender, speaker)
    const senderMac = macBytes(await sender.mac(senderIf))
    const target = (marker: number) => neighborSolicitation(senderMac, solicitedNodeMac, ipv6Bytes([0xff02, 0, 0, 0, 0, 1, 0xff00, 5]), marker)
    const control = (marker: number) => neighborSolicitation(senderMac, allNodesMac, ipv6Bytes([0xff02, 0, 0, 0, 0, 0, 0, 1]), marker)

    const waitFor = (what: string, condition: () => boolean) =>
      Effect.promise(() => eventually(what, async () => (condition() ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 }))

    /** Whether an unjoined target frame gets through, judged after a control frame on the same path arrived. */
    const unjoinedPasses = (out: PacketSocket, received: ReadonlyArray<Uint8Array>, marker: number) =>
      Effect.gen(function* () {
        yield* out.send(target(marker))
        yield* out.send(control(marker + 1))
        yield* waitFor("the all-nodes control frame", () => received.some((f) => markerOf(f) === marker + 1))
        yield* Effect.promise(() => sleep(100))
        return received.some((f) => markerOf(f) === marker)
      })

    interface Joined {
      readonly listedAfterAdd: string
      readonly delivered: ReadonlyArray<number> | undefined
      readonly sent: ReadonlyArray<number>
      readonly listedAfterDrop: string
    }
    const attempt = (device: string): Effect.Effect<"collision" | Joined, unknown, PacketAddon | Scope.Scope> =>
      Effect.gen(function* () {
        const out = yield* openPacketSocket({ interfaceName: senderIf, etherType: etherTypeIpv6, netnsPath: sender.netnsPath })
        const socket = yield* openPacketSocket({ interfaceName: device, etherType: etherTypeIpv6, netnsPath: speaker.netnsPath })
        const received: Array<Uint8Array> = []
        yield* socket.frames.pipe(Stream.runForEach((frame) => Effect.sync(() => received.push(frame))), Effect.forkScoped)
        yield* Effect.promise(() =>
          eventually("the frames stream reading", async () => ((await Effect.runPromise(socket.stats)).reading ? true : undefined)),
        )

        if (yield* unjoinedPasses(out, received, 1)) return "collision" as const

        yield* socket.addMulticastMembership(solicitedNodeMac)
        const listedAfterAdd = yield* Effect.promise(() => multicastList(speaker, device))
        yield* out.send(target(3))
        yield* waitFor("the solicitation after joining", () => received.some((f) => markerOf(f) === 3))
        const delivered = received.find((f) => markerOf(f) === 3)

        yield* socket.dropMulticastMembership(solicitedNodeMac)
        const listedAfterDrop = yield* Effect.promise(() => multicastList(speaker, device))
        // Dropping what is not joined is not an error (the kernel ignores it).
        yield* socket.dropMulticastMembership(solicitedNodeMac)
        yield* socket.addMulticastMembership(solicitedNodeMac)
        return { listedAfterAdd, delivered: delivered === undefined ? undefined : [...delivered], sent: [...target(3)], listedAfterDrop }
      })

    const outcome = await Effect.gen(function* () {
      // Up to three devices, each with its own hash salt; a persistent "passes unjoined" is a real failure.
      for (let round = 1; round <= 3; round++) {
        const device = `mv${round}`
        yield* Effect.promise(() => createMacvlan(speaker, lowerIf, device))
        const result = yield* Effect.scoped(attempt(device))
        // The scope closed the socket, which ends its membership.
        const listedAfterClose = yield* Effect.promise(() => multicastList(speaker, device))
        if (result !== "collision") return { ...result, listedAfterClose, round }
        yield* Effect.promise(() => speaker.run("ip", ["link", "del", device]))
      }
      return "collision on every device" as const
    }).pipe(Effect.provide(PacketAddon.layer), Effect.runPromise)

    expect(outcome).not.toBe("collision on every device")
    if (typeof outcome === "string") return
    expect(outcome.listedAfterAdd).toContain("33:33:ff:00:00:05")
    expect(outcome.delivered).toEqual(outcome.sent)
    expect(outcome.listedAfterDrop).not.toContain("33:33:ff:00:00:05")
    expect(outcome.listedAfterClose).not.toContain("33:33:ff:00:00:05")
  })

  it("refuses a MAC that is not six bytes with the group bit set", async () => {
    await using lab = await Lab.create("mcastarg")
    const a = await lab.host("a")
    const b = await lab.host("b")
    const { aName } = await lab.link(a, b)
    const errors = await Effect.gen(function* () {
      const socket = yield* openPacketSocket({ interfaceName: aName, etherType: etherTypeIpv6, netnsPath: a.netnsPath })
      return yield* Effect.all([
        Effect.flip(socket.addMulticastMembership(new Uint8Array(5))),
        Effect.flip(socket.addMulticastMembership(macBytes("02:00:00:00:00:01"))),
        Effect.flip(socket.dropMulticastMembership("33:33:ff:00:00:05" as unknown as Uint8Array)),
      ])
    }).pipe(Effect.scoped, Effect.provide(PacketAddon.layer), Effect.runPromise)
    expect(errors[0]).toMatchObject({ _tag: "PacketSocketError", operation: "addMulticastMembership", code: "ERR_INVALID_ARG_VALUE" })
    expect(errors[1]).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(errors[2]).toMatchObject({ operation: "dropMulticastMembership", code: "ERR_INVALID_ARG_TYPE" })
  })
})
