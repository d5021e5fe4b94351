// The Layer 2 data plane against real clients in network namespaces: arping gets our MAC for an
// owned IPv4 address and no answer for an unowned one, ndisc6 gets our NA for an owned IPv6 address,
// gratuitous ARP and unsolicited NA are seen on the wire when ownership is taken (and repeated on the
// announcer's whole schedule), and losing ownership stops the answers.
import { spawnSync } from "node:child_process"
import { Effect, Logger, Result, Stream } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodeFrame } from "../../../core/l2/frame.ts"
import type { Mac } from "../../../core/l2/mac.ts"
import { formatAddress } from "../../../core/net/address.ts"
import { etherTypeAll, openPacketSocket, PacketAddon } from "../../../shell/native/packet.ts"
import { makeL2Plane } from "../../../shell/speaker/l2-plane.ts"
import { type Host, Lab, rootSkipReason, sleep } from "../../support/netns.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { ip } from "../../core/ipam/pools.ts"

const habets = () => `${spawnSync("arping", ["--help"], { encoding: "utf8" }).stdout}${spawnSync("arping", ["--help"], { encoding: "utf8" }).stderr}`.includes("Habets")

/** MACs that answered arping for `target` (both arping variants Debian ships). */
const arpingReplies = async (client: Host, target: string, device = "eth0"): Promise<ReadonlyArray<string>> => {
  const args = habets() ? ["-c", "2", "-w", "2", "-i", device, target] : ["-c", "2", "-w", "2", "-I", device, target]
  const output = await client.run("arping", args, { timeoutMs: 10_000 }).then((r) => r.stdout + r.stderr, (e: unknown) => String(e))
  const escaped = target.replace(/\./g, "\\.")
  const pattern = habets() ? new RegExp(`bytes from ([0-9a-f:]{17}) \\(${escaped}\\)`, "gi") : new RegExp(`reply from ${escaped} \\[([0-9a-f:]{17})\\]`, "gi")
  return [...output.matchAll(pattern)].map((m) => (m[1] ?? "").toLowerCase())
}

describe.skipIf(skipUnlessCi(rootSkipReason()))("Layer 2 data plane in network namespaces", () => {
  let lab: Lab
  let speaker: Host
  let client: Host
  let speakerMac: Mac
  beforeAll(async () => {
    lab = await Lab.create("l2plane")
    speaker = await lab.host("speaker")
    client = await lab.host("client")
    await lab.link(speaker, client, { aName: "eth0", bName: "eth0", aAddresses: ["192.0.2.1/24", "2001:db8::1/64"], bAddresses: ["192.0.2.2/24", "2001:db8::2/64"] })
    speakerMac = (await speaker.mac("eth0")) as Mac
  })
  afterAll(async () => {
    await lab?.close()
  })

  it("answers ARP and NDP for owned addresses only, announces on taking ownership, stops on losing it", async () => {
    const owned4 = ip("192.0.2.10")
    const owned6 = ip("2001:db8::10")
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      // A capture in the client namespace, with our own packet socket.
      const capture = yield* openPacketSocket({ interfaceName: "eth0", etherType: etherTypeAll, netnsPath: client.netnsPath })
      const seen: Array<Uint8Array> = []
      yield* Stream.runForEach(capture.frames, (f) => Effect.sync(() => { seen.push(f) })).pipe(Effect.forkScoped)
      const plane = yield* makeL2Plane({ interfaces: [{ name: "eth0", mac: speakerMac }], netnsPath: speaker.netnsPath })
      yield* plane.claim(owned4, ["eth0"])
      yield* plane.claim(owned6, ["eth0"])
      yield* Effect.sleep("400 millis")
      const gratuitous = seen.map(decodeFrame).flatMap((r) => (Result.isSuccess(r) ? [r.success] : []))
      const arpOwned = yield* Effect.promise(() => arpingReplies(client, "192.0.2.10"))
      const arpUnowned = yield* Effect.promise(() => arpingReplies(client, "192.0.2.11"))
      const ndisc = yield* Effect.promise(() => client.run("ndisc6", ["-1", "-r", "3", "-w", "500", "2001:db8::10", "eth0"], { timeoutMs: 10_000 }).then((r) => r.stdout, (e: unknown) => String(e)))
      yield* plane.release(owned4, ["eth0"])
      yield* plane.release(owned6, ["eth0"])
      yield* Effect.sleep("100 millis")
      const afterLoss = yield* Effect.promise(() => arpingReplies(client, "192.0.2.10"))
      const counters = yield* plane.counters
      return { gratuitous, arpOwned, arpUnowned, ndisc, afterLoss, counters }
    }).pipe(Effect.provide(PacketAddon.layer))))

    const garp = result.gratuitous.filter((f) => f._tag === "ArpFrame" && formatAddress(f.arp.senderIp) === "192.0.2.10" && f.ethernet.src === speakerMac)
    expect(garp.map((f) => (f._tag === "ArpFrame" ? f.arp.operation : ""))).toEqual(expect.arrayContaining(["request", "reply"]))
    const unsolicited = result.gratuitous.filter((f) => f._tag === "NdpFrame" && f.ndp._tag === "NeighborAdvertisement" && formatAddress(f.ndp.target) === "2001:db8::10")
    expect(unsolicited.length).toBeGreaterThan(0)
    expect(result.arpOwned.length).toBeGreaterThan(0)
    expect(new Set(result.arpOwned)).toEqual(new Set([speakerMac]))
    expect(result.arpUnowned).toEqual([])
    expect(result.ndisc.toLowerCase()).toContain(speakerMac)
    expect(result.afterLoss).toEqual([])
    const stats = result.counters.byAddress.get("ipv4/c000020a")
    expect(stats?.requestsReceived).toBeGreaterThan(0)
    expect(stats?.responsesSent).toBeGreaterThan(0)
    expect(stats?.gratuitousSent).toBeGreaterThan(0)
  })

  it("announces on the whole schedule after taking ownership: at once, +100 and +300 ms, then every 1.1 s", async () => {
    const address = ip("192.0.2.30")
    const sentAtMs = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const capture = yield* openPacketSocket({ interfaceName: "eth0", etherType: etherTypeAll, netnsPath: client.netnsPath })
      const seen: Array<{ readonly atMs: number; readonly frame: Uint8Array }> = []
      yield* Stream.runForEach(capture.frames, (frame) => Effect.sync(() => { seen.push({ atMs: Date.now(), frame }) })).pipe(Effect.forkScoped)
      const plane = yield* makeL2Plane({ interfaces: [{ name: "eth0", mac: speakerMac }], netnsPath: speaker.netnsPath })
      const ownedAtMs = Date.now()
      yield* plane.claim(address, ["eth0"])
      yield* Effect.sleep("2500 millis")
      return seen.flatMap(({ atMs, frame }) => {
        const decoded = decodeFrame(frame)
        if (Result.isFailure(decoded) || decoded.success._tag !== "ArpFrame") return []
        const arp = decoded.success.arp
        return arp.operation === "request" && formatAddress(arp.senderIp) === "192.0.2.30" && formatAddress(arp.targetIp) === "192.0.2.30" ? [atMs - ownedAtMs] : []
      })
    }).pipe(Effect.provide(PacketAddon.layer))))
    // One gratuitous request per slot (t, +100, +300, +1100, +2200), each within scheduling slack.
    expect(sentAtMs).toHaveLength(5)
    ;[0, 100, 300, 1100, 2200].forEach((slotMs, i) => expect(Math.abs(sentAtMs[i]! - slotMs)).toBeLessThan(150))
  })

  it("keeps the client's neighbour cache pointed at the owner", async () => {
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const plane = yield* makeL2Plane({ interfaces: [{ name: "eth0", mac: speakerMac }], netnsPath: speaker.netnsPath })
      yield* plane.claim(ip("192.0.2.20"), ["eth0"])
      yield* Effect.promise(() => client.run("ping", ["-c", "1", "-W", "1", "192.0.2.20"]).catch(() => undefined))
      yield* Effect.promise(() => sleep(200))
      const neigh = yield* Effect.promise(() => client.run("ip", ["neigh", "show", "192.0.2.20"]))
      expect(neigh.stdout.toLowerCase()).toContain(speakerMac)
    }).pipe(Effect.provide(PacketAddon.layer))))
  })

  it("an interface taken down is reopened quietly (one warning per outage) and answers again once it is back", async () => {
    const lines: Array<string> = []
    const capture = Logger.layer([Logger.make(({ message, logLevel }) => { lines.push(`${logLevel} ${Array.isArray(message) ? message.join(" ") : String(message)}`) })])
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const plane = yield* makeL2Plane({ interfaces: [{ name: "eth0", mac: speakerMac }], netnsPath: speaker.netnsPath })
      yield* plane.claim(ip("192.0.2.40"), ["eth0"])
      yield* Effect.promise(() => speaker.run("ip", ["link", "set", "eth0", "down"]))
      // About ten reopen attempts while it is down.
      yield* Effect.sleep("2 seconds")
      yield* Effect.promise(() => speaker.run("ip", ["link", "set", "eth0", "up"]))
      yield* Effect.promise(() => sleep(1_500))
      const replies = yield* Effect.promise(() => arpingReplies(client, "192.0.2.40"))
      expect(replies.length).toBeGreaterThan(0)
      expect(new Set(replies)).toEqual(new Set([speakerMac]))
    }).pipe(Effect.provide(PacketAddon.layer), Effect.provide(capture))))
    const warnings = lines.filter((l) => l.includes("l2: receiving on eth0"))
    expect(warnings.length).toBeGreaterThanOrEqual(1)
    expect(warnings.length).toBeLessThanOrEqual(2)
    expect(lines.some((l) => /receiving on eth0 again after \d+ failed attempts/.test(l))).toBe(true)
  })

  it("takes up an interface that appears later and lets go of one that goes away (a rescan)", async () => {
    await lab.link(speaker, client, { aName: "eth1", bName: "eth1", aAddresses: ["198.51.100.1/24"], bAddresses: ["198.51.100.2/24"] })
    const eth1Mac = (await speaker.mac("eth1")) as Mac
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const plane = yield* makeL2Plane({ interfaces: [{ name: "eth0", mac: speakerMac }], netnsPath: speaker.netnsPath })
      const address = ip("198.51.100.10")
      // Not an interface of the plane yet: nothing answers there.
      yield* plane.claim(address, ["eth1"])
      expect(yield* Effect.promise(() => arpingReplies(client, "198.51.100.10", "eth1"))).toEqual([])
      // It appears: the address claimed on it is answered there at once, without another claim.
      yield* plane.setInterfaces([{ name: "eth0", mac: speakerMac }, { name: "eth1", mac: eth1Mac }])
      const replies = yield* Effect.promise(() => arpingReplies(client, "198.51.100.10", "eth1"))
      expect(replies.length).toBeGreaterThan(0)
      expect(new Set(replies)).toEqual(new Set([eth1Mac]))
      // Gone again (the node machine releases what it owned there first): the socket closes.
      yield* plane.release(address, ["eth1"])
      yield* plane.setInterfaces([{ name: "eth0", mac: speakerMac }])
      expect((yield* plane.owned).size).toBe(0)
      expect(yield* Effect.promise(() => arpingReplies(client, "198.51.100.10", "eth1"))).toEqual([])
    }).pipe(Effect.provide(PacketAddon.layer))))
  })
})
