// Smoke test of the native packet addon against real namespaces: the test process opens an AF_PACKET
// socket inside the `speaker` namespace, sees a real `arping` in `client` ask for an address nobody owns,
// answers it with a hand-built ARP reply, and checks that arping accepted the answer.
import { spawnSync } from "node:child_process"
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Stream } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import {
  etherTypeAll,
  interfaceInfo,
  loadPacketAddon,
  openPacketSocket,
  PacketAddon,
  type PacketSocket,
} from "../../../shell/native/packet.ts"
import { eventually, Lab, rootSkipReason } from "../../support/netns.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { ensureAddonBuilt } from "./build-addon.ts"

// ---------------------------------------------------------------------------------------------------
// A minimal ARP codec for this test only (the real one belongs to core/l2).

const etherTypeArp = 0x0806

const macBytes = (mac: string): Uint8Array => Uint8Array.from(mac.split(":").map((part) => Number.parseInt(part, 16)))
const macString = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":")
const ipv4Bytes = (address: string): Uint8Array => Uint8Array.from(address.split(".").map(Number))
const ipv4String = (bytes: Uint8Array): string => [...bytes].join(".")

interface ArpFrame {
  readonly destination: string
  readonly source: string
  readonly operation: number
  readonly senderMac: string
  readonly senderIp: string
  readonly targetMac: string
  readonly targetIp: string
}

const parseArp = (frame: Uint8Array): ArpFrame | undefined => {
  if (frame.length < 42) return undefined
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  if (view.getUint16(12) !== etherTypeArp) return undefined
  // Ethernet hardware (1), IPv4 protocol (0x0800), 6-byte and 4-byte addresses.
  if (view.getUint16(14) !== 1 || view.getUint16(16) !== 0x0800 || frame[18] !== 6 || frame[19] !== 4) return undefined
  return {
    destination: macString(frame.subarray(0, 6)),
    source: macString(frame.subarray(6, 12)),
    operation: view.getUint16(20),
    senderMac: macString(frame.subarray(22, 28)),
    senderIp: ipv4String(frame.subarray(28, 32)),
    targetMac: macString(frame.subarray(32, 38)),
    targetIp: ipv4String(frame.subarray(38, 42)),
  }
}

/** An ARP reply "`ip` is-at `mac`" to the asker, padded to the 60-byte Ethernet minimum. */
const arpReply = (request: ArpFrame, mac: string): Uint8Array => {
  const frame = new Uint8Array(60)
  const view = new DataView(frame.buffer)
  frame.set(macBytes(request.senderMac), 0)
  frame.set(macBytes(mac), 6)
  view.setUint16(12, etherTypeArp)
  view.setUint16(14, 1)
  view.setUint16(16, 0x0800)
  frame[18] = 6
  frame[19] = 4
  view.setUint16(20, 2)
  frame.set(macBytes(mac), 22)
  frame.set(ipv4Bytes(request.targetIp), 28)
  frame.set(macBytes(request.senderMac), 32)
  frame.set(ipv4Bytes(request.senderIp), 38)
  return frame
}

// ---------------------------------------------------------------------------------------------------
// arping: Debian ships two (Thomas Habets' `arping`, iputils' `iputils-arping`) with different flags
// and output; accept whichever is installed.

interface Arping {
  readonly args: (interfaceName: string, target: string) => ReadonlyArray<string>
  /** MACs that answered for `target`, lower case. */
  readonly repliesFor: (output: string, target: string) => ReadonlyArray<string>
}

const detectArping = (): Arping => {
  const help = spawnSync("arping", ["--help"], { encoding: "utf8" })
  const isHabets = `${help.stdout}${help.stderr}`.includes("Habets")
  const escape = (s: string) => s.replace(/\./g, "\\.")
  return isHabets
    ? {
        args: (interfaceName, target) => ["-c", "3", "-w", "3", "-i", interfaceName, target],
        repliesFor: (output, target) =>
          [...output.matchAll(new RegExp(`bytes from ([0-9a-f:]{17}) \\(${escape(target)}\\)`, "gi"))].map((m) =>
            (m[1] ?? "").toLowerCase(),
          ),
      }
    : {
        args: (interfaceName, target) => ["-c", "3", "-w", "3", "-I", interfaceName, target],
        repliesFor: (output, target) =>
          [...output.matchAll(new RegExp(`Unicast reply from ${escape(target)} \\[([0-9a-f:]{17})\\]`, "gi"))].map((m) =>
            (m[1] ?? "").toLowerCase(),
          ),
      }
}

// ---------------------------------------------------------------------------------------------------

const currentNetns = () => readlinkSync("/proc/thread-self/ns/net")

const skipReason = rootSkipReason()

describe.skipIf(skipUnlessCi(skipReason))(`packet addon in network namespaces${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  beforeAll(() => {
    ensureAddonBuilt()
  }, 300_000)

  it("reads ARP requests from a real client and answers them with frames it sends", async () => {
    await using lab = await Lab.create("arp")
    const speaker = await lab.host("speaker")
    const client = await lab.host("client")
    const { aName: speakerIf, bName: clientIf } = await lab.link(speaker, client, {
      aAddresses: ["192.0.2.1/24"],
      bAddresses: ["192.0.2.2/24"],
    })
    const speakerMac = await speaker.mac(speakerIf)
    const clientMac = await client.mac(clientIf)
    const { stdout: linkJson } = await speaker.run("ip", ["-j", "link", "show", speakerIf])
    const [speakerLink] = JSON.parse(linkJson) as Array<{ ifindex: number }>
    const unowned = "192.0.2.10"
    const arping = detectArping()
    const namespaceBefore = currentNetns()

    const result = await Effect.gen(function* () {
      const info = yield* interfaceInfo(speakerIf, { netnsPath: speaker.netnsPath })
      const socket: PacketSocket = yield* openPacketSocket({
        interfaceName: speakerIf,
        etherType: etherTypeArp,
        netnsPath: speaker.netnsPath,
      })
      const requests: Array<ArpFrame> = []
      yield* socket.frames.pipe(
        Stream.runForEach((frame) => {
          const arp = parseArp(frame)
          if (arp === undefined || arp.operation !== 1 || arp.targetIp !== unowned) return Effect.void
          requests.push(arp)
          return Effect.asVoid(socket.send(arpReply(arp, speakerMac)))
        }),
        Effect.forkScoped,
      )
      // Ask only once the socket is being read, so no request goes unseen.
      yield* Effect.promise(() =>
        eventually("the frames stream to start reading", async () => ((await Effect.runPromise(socket.stats)).reading ? true : undefined), {
          timeoutMs: 5_000,
          intervalMs: 20,
        }),
      )
      const arpingOutput = yield* Effect.promise(() =>
        client
          .run("arping", arping.args(clientIf, unowned), { timeoutMs: 10_000 })
          .then(({ stdout, stderr }) => `${stdout}${stderr}`, (error: unknown) => `arping failed: ${String(error)}`),
      )
      const stats = yield* socket.stats
      return { info, requests: [...requests], arpingOutput, stats }
    }).pipe(Effect.scoped, Effect.provide(PacketAddon.layer), Effect.runPromise)

    // a. interface facts, read through the namespace
    expect(result.info.index).toBe(speakerLink?.ifindex)
    expect(macString(result.info.mac)).toBe(speakerMac)
    expect(result.info.mtu).toBeGreaterThanOrEqual(1280)
    // The test's own thread is back in its original namespace.
    expect(currentNetns()).toBe(namespaceBefore)

    // b. the client's requests arrived, as arping sent them
    expect(result.requests.length).toBeGreaterThanOrEqual(1)
    for (const request of result.requests) {
      expect(request).toMatchObject({
        operation: 1,
        source: clientMac,
        senderMac: clientMac,
        senderIp: "192.0.2.2",
        targetIp: unowned,
      })
    }

    // c. the client accepted our replies: arping reports 192.0.2.10 at the speaker's MAC
    const replies = arping.repliesFor(result.arpingOutput, unowned)
    expect(replies, result.arpingOutput).not.toHaveLength(0)
    expect(new Set(replies), result.arpingOutput).toEqual(new Set([speakerMac]))
    expect(result.stats.sent).toBe(result.requests.length)
    expect(result.stats.received).toBeGreaterThanOrEqual(result.requests.length)
    expect(result.stats.errors).toBe(0)
    expect(result.stats.dropped).toBe(0)
  })

  it("puts a hand-built reply into the client's neighbour table", async () => {
    await using lab = await Lab.create("arpneigh")
    const speaker = await lab.host("speaker")
    const client = await lab.host("client")
    const { aName: speakerIf, bName: clientIf } = await lab.link(speaker, client, {
      aAddresses: ["198.51.100.1/24"],
      bAddresses: ["198.51.100.2/24"],
    })
    const speakerMac = await speaker.mac(speakerIf)
    const unowned = "198.51.100.10"

    const neighbour = await Effect.gen(function* () {
      const socket = yield* openPacketSocket({ interfaceName: speakerIf, etherType: etherTypeArp, netnsPath: speaker.netnsPath })
      yield* socket.frames.pipe(
        Stream.runForEach((frame) => {
          const arp = parseArp(frame)
          return arp !== undefined && arp.operation === 1 && arp.targetIp === unowned
            ? Effect.asVoid(socket.send(arpReply(arp, speakerMac)))
            : Effect.void
        }),
        Effect.forkScoped,
      )
      return yield* Effect.promise(() =>
        eventually(
          `${unowned} at ${speakerMac} in the client's neighbour table`,
          async () => {
            // The ping makes the client's kernel resolve the address; it gets no echo reply, only ARP.
            await client.run("ping", ["-c", "1", "-W", "0.3", unowned]).catch(() => undefined)
            const { stdout } = await client.run("ip", ["neigh", "show", unowned, "dev", clientIf])
            return stdout.toLowerCase().includes(`lladdr ${speakerMac}`) ? stdout.trim() : undefined
          },
          { timeoutMs: 10_000, intervalMs: 100 },
        ),
      )
    }).pipe(Effect.scoped, Effect.provide(PacketAddon.layer), Effect.runPromise)

    expect(neighbour).toContain(speakerMac)
  })

  it("with ETH_P_ALL delivers what arrives but nothing its own host sends", async () => {
    await using lab = await Lab.create("arpall")
    const speaker = await lab.host("speaker")
    const client = await lab.host("client")
    const { aName: speakerIf, bName: clientIf } = await lab.link(speaker, client, {
      aAddresses: ["203.0.113.1/24"],
      bAddresses: ["203.0.113.2/24"],
    })
    const speakerMac = await speaker.mac(speakerIf)
    const clientMac = await client.mac(clientIf)
    // Gratuitous ARP replies, broadcast; the sender IP marks them among other traffic.
    const gratuitous = (mac: string, ip: string) =>
      arpReply({ destination: "", source: "", operation: 1, senderMac: "ff:ff:ff:ff:ff:ff", senderIp: ip, targetMac: "", targetIp: ip }, mac)
    const fromSpeakerMarker = "203.0.113.77"
    const fromClientMarker = "203.0.113.78"

    const { atClient, atSpeaker } = await Effect.gen(function* () {
      const all = yield* openPacketSocket({ interfaceName: speakerIf, etherType: etherTypeAll, netnsPath: speaker.netnsPath })
      const arpAtClient = yield* openPacketSocket({ interfaceName: clientIf, etherType: etherTypeArp, netnsPath: client.netnsPath })
      const atSpeaker: Array<Uint8Array> = []
      const atClient: Array<Uint8Array> = []
      const collect = (socket: PacketSocket, into: Array<Uint8Array>) =>
        socket.frames.pipe(Stream.runForEach((frame) => Effect.sync(() => into.push(frame))), Effect.forkScoped)
      yield* collect(all, atSpeaker)
      yield* collect(arpAtClient, atClient)
      const marked = (frames: ReadonlyArray<Uint8Array>, ip: string) => frames.some((frame) => parseArp(frame)?.senderIp === ip)
      const until = (what: string, condition: () => boolean) =>
        Effect.promise(() => eventually(what, async () => (condition() ? true : undefined), { timeoutMs: 5_000, intervalMs: 20 }))
      yield* Effect.promise(() =>
        eventually("both sockets reading", async () => {
          const [a, b] = await Effect.runPromise(Effect.all([all.stats, arpAtClient.stats]))
          return a.reading && b.reading ? true : undefined
        }, { timeoutMs: 5_000, intervalMs: 20 }),
      )
      // What the speaker's socket sends reaches the wire.
      yield* all.send(gratuitous(speakerMac, fromSpeakerMarker))
      yield* until("the speaker's frame at the client", () => marked(atClient, fromSpeakerMarker))
      // Make the speaker's kernel send too (ARP reply, ICMP echo reply): outgoing frames an ETH_P_ALL
      // socket would otherwise see.
      yield* Effect.promise(() => client.run("ping", ["-c", "1", "-W", "2", "203.0.113.1"]))
      // A socket reads in order, so once this later frame is in, everything before it has been seen.
      yield* arpAtClient.send(gratuitous(clientMac, fromClientMarker))
      yield* until("the client's frame at the speaker", () => marked(atSpeaker, fromClientMarker))
      return { atClient: [...atClient], atSpeaker: [...atSpeaker] }
    }).pipe(Effect.scoped, Effect.provide(PacketAddon.layer), Effect.runPromise)

    const fromSpeaker = atClient.map(parseArp).find((arp) => arp?.senderIp === fromSpeakerMarker)
    expect(fromSpeaker).toMatchObject({ operation: 2, source: speakerMac, destination: "ff:ff:ff:ff:ff:ff", senderMac: speakerMac })
    const sources = atSpeaker.map((frame) => macString(frame.subarray(6, 12)))
    // The client's ARP request for the speaker and its ICMP echo request arrived...
    expect(atSpeaker.map(parseArp).some((arp) => arp?.operation === 1 && arp.senderMac === clientMac)).toBe(true)
    expect(atSpeaker.some((frame) => frame[12] === 0x08 && frame[13] === 0x00)).toBe(true)
    // ...while nothing the speaker sent (its kernel's replies, this socket's own frame) came back.
    expect(sources.filter((source) => source === speakerMac)).toEqual([])
  })

  it("drops and counts frames a stalled consumer cannot take, without blocking", async () => {
    await using lab = await Lab.create("arpdrop")
    const speaker = await lab.host("speaker")
    const client = await lab.host("client")
    const { aName: speakerIf, bName: clientIf } = await lab.link(speaker, client, {
      aAddresses: ["198.51.100.1/24"],
      bAddresses: ["198.51.100.2/24"],
    })
    const clientMac = await client.mac(clientIf)
    const burst = 20
    const queueCapacity = 2

    const stats = await Effect.gen(function* () {
      const listener = yield* openPacketSocket({ interfaceName: speakerIf, etherType: etherTypeArp, netnsPath: speaker.netnsPath, queueCapacity })
      const sender = yield* openPacketSocket({ interfaceName: clientIf, etherType: etherTypeArp, netnsPath: client.netnsPath })
      // A consumer that takes one frame and then never comes back for more.
      yield* listener.frames.pipe(Stream.runForEach(() => Effect.never), Effect.forkScoped)
      yield* Effect.promise(() =>
        eventually("the listener reading", async () => ((await Effect.runPromise(listener.stats)).reading ? true : undefined), {
          timeoutMs: 5_000,
          intervalMs: 20,
        }),
      )
      for (let i = 0; i < burst; i++) {
        const ip = `198.51.100.${100 + i}`
        yield* sender.send(arpReply({ destination: "", source: "", operation: 1, senderMac: "ff:ff:ff:ff:ff:ff", senderIp: ip, targetMac: "", targetIp: ip }, clientMac))
      }
      return yield* Effect.promise(() =>
        eventually("the whole burst at the listener", async () => {
          const s = await Effect.runPromise(listener.stats)
          return s.received === burst ? s : undefined
        }, { timeoutMs: 5_000, intervalMs: 20 }),
      )
    }).pipe(Effect.scoped, Effect.provide(PacketAddon.layer), Effect.runPromise)

    expect(stats.errors).toBe(0)
    expect(stats.dropped).toBeGreaterThan(0)
    // Kept: at most a full queue plus the one chunk (itself at most a queue's worth) the consumer holds.
    expect(stats.dropped).toBeGreaterThanOrEqual(burst - 2 * queueCapacity)
  })

  it("fails with typed errors, not crashes, for a missing interface or namespace", async () => {
    await using lab = await Lab.create("arperr")
    const speaker = await lab.host("speaker")
    const namespaceBefore = currentNetns()

    const [noInterface, noInfo, noNamespace] = await Effect.all([
      Effect.flip(Effect.scoped(openPacketSocket({ interfaceName: "mlbt-none0", etherType: etherTypeArp, netnsPath: speaker.netnsPath }))),
      Effect.flip(interfaceInfo("mlbt-none0", { netnsPath: speaker.netnsPath })),
      Effect.flip(Effect.scoped(openPacketSocket({ interfaceName: "lo", etherType: etherTypeArp, netnsPath: `${speaker.netnsPath}-absent` }))),
    ]).pipe(Effect.provide(PacketAddon.layer), Effect.runPromise)

    expect(noInterface).toMatchObject({ _tag: "PacketSocketError", operation: "openPacket", interfaceName: "mlbt-none0", code: "ENODEV" })
    expect(noInterface.message).toContain("mlbt-none0")
    expect(noInterface.message).toContain(speaker.netnsPath)
    expect(noInfo).toMatchObject({ _tag: "PacketSocketError", operation: "interfaceInfo", code: "ENODEV" })
    expect(noNamespace).toMatchObject({ _tag: "PacketSocketError", code: "ENOENT", syscall: "open" })
    expect(noNamespace.message).toContain(`${speaker.netnsPath}-absent`)
    expect(currentNetns()).toBe(namespaceBefore)
  })

  it("rejects frames shorter than an Ethernet header and sends nothing after close", async () => {
    await using lab = await Lab.create("arpsend")
    const speaker = await lab.host("speaker")
    const client = await lab.host("client")
    const { aName: speakerIf } = await lab.link(speaker, client, { aAddresses: ["203.0.113.1/24"], bAddresses: ["203.0.113.2/24"] })

    const { tooShort, stats, afterClose, closedStats } = await Effect.gen(function* () {
      const opened = yield* Effect.scoped(
        Effect.gen(function* () {
          const socket = yield* openPacketSocket({ interfaceName: speakerIf, etherType: etherTypeArp, netnsPath: speaker.netnsPath })
          const tooShort = yield* Effect.flip(socket.send(new Uint8Array(13)))
          const stats = yield* socket.stats
          return { socket, tooShort, stats }
        }),
      )
      // The scope has closed the socket: using it now is an error, not a write to a reused fd.
      const afterClose = yield* Effect.flip(opened.socket.send(new Uint8Array(60)))
      const closedStats = yield* opened.socket.stats
      return { tooShort: opened.tooShort, stats: opened.stats, afterClose, closedStats }
    }).pipe(Effect.provide(PacketAddon.layer), Effect.runPromise)

    expect(tooShort).toMatchObject({ _tag: "PacketSocketError", operation: "send", code: "ERR_FRAME_TOO_SHORT" })
    expect(stats).toMatchObject({ sent: 0, open: true })
    expect(afterClose).toMatchObject({ _tag: "PacketSocketError", code: "EBADF" })
    expect(closedStats).toMatchObject({ open: false, reading: false })
  })
})

describe("packet addon loader", () => {
  it("reports a missing addon as NativeAddonMissing naming the path and the build command", async () => {
    const path = join(tmpdir(), "metallb-ts-no-such-dir", "packet.node")
    const error = await Effect.runPromise(Effect.flip(loadPacketAddon(path)))
    expect(error._tag).toBe("NativeAddonMissing")
    expect(error).toMatchObject({ path })
    expect(error.message).toContain("npm run build:native")
  })

  it("fails the service layer with the same typed error", async () => {
    const path = join(tmpdir(), "metallb-ts-no-such-dir", "packet.node")
    const error = await interfaceInfo("lo").pipe(Effect.provide(PacketAddon.layerAt(path)), Effect.flip, Effect.runPromise)
    expect(error._tag).toBe("NativeAddonMissing")
  })

  it("reports a file that is not an addon as NativeAddonLoadFailed", async () => {
    const directory = mkdtempSync(join(tmpdir(), "metallb-ts-addon-"))
    try {
      const path = join(directory, "packet.node")
      writeFileSync(path, "not an ELF file")
      const error = await Effect.runPromise(Effect.flip(loadPacketAddon(path)))
      expect(error).toMatchObject({ _tag: "NativeAddonLoadFailed", path })
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  })
})
