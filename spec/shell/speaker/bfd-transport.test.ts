// The BFD UDP transport between two namespaces: two BfdDrivers over two endpoints come Up, each
// session sending from one source port in 49152-65535 with TTL 255 (the receiving core checks it); a
// valid-looking Control packet sent with TTL 64 is discarded (RFC 5881 §5), and one from an address
// no session has is counted and not delivered.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { testFibers } from "../../support/fibers.ts"
import { encodeControlPacket } from "../../../core/bfd/codec.ts"
import type { BfdProfile } from "../../../core/config/config.ts"
import { Effect, Exit, Scope } from "effect"
import { openUdp, UdpAddon, type UdpAddonApi } from "../../../shell/native/udp.ts"
import { BfdDriver } from "../../../shell/speaker/bfd-driver.ts"
import { bfdControlPort, udpAddon, openBfdEndpoint } from "../../../shell/speaker/bfd-transport.ts"
import { eventually, Lab, rootSkipReason } from "../../support/netns.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { ensureAddonBuilt } from "../native/build-addon.ts"

const profile: BfdProfile = { name: "p", receiveIntervalMs: 100, transmitIntervalMs: 100, detectMultiplier: 3, echoIntervalMs: 50, echoMode: false, passiveMode: false, minimumTtl: 254 }

const skipReason = rootSkipReason()

// The drivers' fibers and sockets belong to this scope, as they belong to the speaker's.
const fibers = testFibers()
afterAll(() => fibers.shutdown())

describe.skipIf(skipUnlessCi(skipReason))(`BFD UDP transport in network namespaces${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let udp: UdpAddonApi
  beforeAll(async () => {
    ensureAddonBuilt()
    udp = await Effect.runPromise(udpAddon)
  }, 300_000)

  for (const f of [
    { family: "IPv4", a: "192.0.2.1", b: "192.0.2.2", c: "192.0.2.3", len: 24 },
    { family: "IPv6", a: "2001:db8::1", b: "2001:db8::2", c: "2001:db8::3", len: 64 },
  ]) {
    it(`${f.family}: two sessions come Up; TTL 64 packets and unknown senders are not taken`, async () => {
      await using lab = await Lab.create(`bfdudp${f.family}`)
      const a = await lab.host("a")
      const b = await lab.host("b")
      const { bName } = await lab.link(a, b, { aAddresses: [`${f.a}/${f.len}`], bAddresses: [`${f.b}/${f.len}`] })
      await b.addAddress(bName, `${f.c}/${f.len}`)
      const endA = openBfdEndpoint(udp, { fibers, netnsPath: a.netnsPath })
      const endB = openBfdEndpoint(udp, { fibers, netnsPath: b.netnsPath })
      const scope = Effect.runSync(Scope.make())
      try {
        const linkA = await endA.link(f.b)
        const linkB = await endB.link(f.a, f.b)
        expect(linkA.localPort).toBeGreaterThanOrEqual(49152)
        expect(linkB.localPort).toBeGreaterThanOrEqual(49152)
        const discardedAtA: Array<string> = []
        const left = new BfdDriver({ profile, localDiscriminator: endA.allocateDiscriminator(), link: linkA, events: { onDiscarded: (r) => discardedAtA.push(r) } })
        const right = new BfdDriver({ profile, localDiscriminator: endB.allocateDiscriminator(), link: linkB })
        left.start()
        right.start()
        await eventually("both Up", async () => (left.state === "Up" && right.state === "Up") || undefined, { timeoutMs: 10_000, intervalMs: 20 })
        expect(discardedAtA).toEqual([])

        // A packet claiming to be b's, sent with the kernel's default TTL (64) from b: the core drops it.
        const forged = await Effect.runPromise(
          openUdp({ address: f.b, port: 0, netnsPath: b.netnsPath }).pipe(Scope.provide(scope), Effect.provideService(UdpAddon, udp)),
        )
        const packet = encodeControlPacket({
          diagnostic: 0, state: "Down", poll: false, final: false, controlPlaneIndependent: false, demand: false, detectMultiplier: 3,
          myDiscriminator: 7, yourDiscriminator: 0, desiredMinTxIntervalUs: 1_000_000, requiredMinRxIntervalUs: 1_000_000, requiredMinEchoRxIntervalUs: 0,
        })
        await Effect.runPromise(forged.send(packet, f.a, bfdControlPort))
        await eventually("the TTL 64 packet discarded", async () => (discardedAtA.includes("TtlNot255") ? true : undefined), { timeoutMs: 3_000, intervalMs: 20 })
        // From an address without a session: not delivered to any, counted.
        const stranger = await Effect.runPromise(
          openUdp({ address: f.c, port: 0, ttl: 255, netnsPath: b.netnsPath }).pipe(Scope.provide(scope), Effect.provideService(UdpAddon, udp)),
        )
        await Effect.runPromise(stranger.send(packet, f.a, bfdControlPort))
        await eventually("the stranger's packet counted", async () => (endA.unmatched() > 0 ? true : undefined), { timeoutMs: 3_000, intervalMs: 20 })
        expect(left.state).toBe("Up")
        expect(right.state).toBe("Up")

        // Stopping one side sends AdminDown: the other goes Down at once, well before its detection time.
        left.stop()
        await eventually("right Down after AdminDown", async () => (right.state === "Down" ? true : undefined), { timeoutMs: 250, intervalMs: 5 })
        right.halt()
      } finally {
        await Effect.runPromise(Scope.close(scope, Exit.void))
        await endA.close()
        await endB.close()
      }
    })
  }
})
