// BFD echo mode (RFC 5880 §6.4, RFC 5881 §4) against FRR's bfdd with `echo-mode`, on one link between
// two namespaces: the speaker's side (192.0.2.10) runs core/bfd's session and Echo function through
// BfdDriver, its echoes written as raw frames to FRR's MAC and looped back by FRR's kernel; FRR's echoes
// are looped back by ours (forwarding on). bfdd shows echo active on the session with our advertised
// echo interval; an nftables rule in FRR's namespace that drops forwarded UDP 3785 cuts only our
// echoes, and our session goes Down with diagnostic 2 (Echo Function Failed) within the echo detection
// time while control packets still flow.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { testFibers } from "../../support/fibers.ts"
import { BfdDiagnostic, type BfdState } from "../../../core/bfd/packet.ts"
import { BfdDriver } from "../../../shell/speaker/bfd-driver.ts"
import { echoCapability, openEchoEndpoint } from "../../../shell/speaker/bfd-echo.ts"
import { openBfdEndpoint } from "../../../shell/speaker/bfd-transport.ts"
import { eventually, rootSkipReason } from "../../support/netns.ts"
import { startFrr } from "../../support/routers/index.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { profile } from "../../core/bfd/harness.ts"
import { interopAddons, routerV4, speakerAndRouter, speakerV4 } from "./interop-support.ts"

const skipReason = rootSkipReason()
const echoMs = 50
const detectMultiplier = 3

// The drivers' fibers and sockets belong to this scope, as they belong to the speaker's.
const fibers = testFibers()
afterAll(() => fibers.shutdown())

describe.skipIf(skipUnlessCi(skipReason))(`BFD echo mode with FRR${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let addons: Awaited<ReturnType<typeof interopAddons>>
  beforeAll(async () => {
    addons = await interopAddons()
  }, 300_000)

  const scenario = async (portFrom: "given" | "endpoint") => {
    const { lab, node, router } = await speakerAndRouter("bfdecho")
    await using _lab = lab
    const nodeInterface = "eth0"
    await node.run("sysctl", ["-qw", "net.ipv4.ip_forward=1", `net.ipv4.conf.${nodeInterface}.accept_local=1`, `net.ipv4.conf.${nodeInterface}.send_redirects=0`, "net.ipv4.conf.all.send_redirects=0"])
    await router.run("sysctl", ["-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.send_redirects=0"])
    const capability = await echoCapability(nodeInterface, node.netnsPath)
    expect(capability).toEqual({ canSend: true, loopsBack: true, reasons: [] })

    await using frr = await startFrr(router, { routerId: routerV4, asn: 64501, neighbors: [{ address: speakerV4, asn: 64500 }] })
    await frr.vtysh([
      "configure terminal",
      "bfd",
      ` peer ${speakerV4}`,
      `  receive-interval 300`,
      `  transmit-interval 300`,
      `  detect-multiplier ${detectMultiplier}`,
      "  echo-mode",
      `  echo receive-interval ${echoMs}`,
      `  echo transmit-interval ${echoMs}`,
    ].join("\n"), "bfdd")

    const bfd = openBfdEndpoint(addons.udp, { fibers, netnsPath: node.netnsPath, packet: addons.packet })
    const echo = openEchoEndpoint(addons, { fibers, netnsPath: node.netnsPath })
    const discriminator = bfd.allocateDiscriminator()
    // The speaker's path: a link that opens its own echo port where the peer's control packets arrive.
    const link = await bfd.link(routerV4, portFrom === "endpoint" ? undefined : speakerV4)
    expect(link.echo?.loopsBack).toBe(true)
    const echoLink = portFrom === "given"
      ? await echo.link({ interfaceName: nodeInterface, localAddress: speakerV4, peerAddress: routerV4, discriminator })
      : undefined
    const changes: Array<{ atMs: number; from: BfdState; to: BfdState; diagnostic: number }> = []
    const unavailable: Array<string> = []
    const driver = new BfdDriver({
      profile: profile({ echoMode: true, echoIntervalMs: echoMs, receiveIntervalMs: 300, transmitIntervalMs: 300, detectMultiplier }),
      localDiscriminator: discriminator,
      link,
      ...(echoLink === undefined ? {} : { echo: { port: echoLink, loopsBack: capability.loopsBack } }),
      events: {
        onStateChanged: (from, to, diagnostic) => changes.push({ atMs: performance.now(), from, to, diagnostic }),
        onEchoUnavailable: (reason) => unavailable.push(reason),
      },
    })
    try {
      driver.start()
      await eventually("our session Up with echo active", async () => (driver.state === "Up" && driver.echoActive ? true : undefined), { timeoutMs: 30_000, intervalMs: 50 })
      expect(unavailable).toEqual([])
      const frrPeer = await eventually("FRR's session Up with echo", async () => {
        const peers = JSON.parse(await frr.vtysh(`show bfd peer ${speakerV4} json`, "bfdd")) as Record<string, unknown>
        return peers["status"] === "up" && Number(peers["remote-echo-receive-interval"]) === echoMs ? peers : undefined
      }, { timeoutMs: 20_000, intervalMs: 200 })
      console.log(`FRR's view: ${JSON.stringify(frrPeer)}`)
      // bfdd saw our 1 s Required Min RX (control slowed while echo runs) and measures its echoes' round trip.
      expect(frrPeer).toMatchObject({ "remote-receive-interval": 1000, "echo-transmit-interval": echoMs })
      expect(Number(frrPeer["rtt-max"])).toBeGreaterThan(0)
      // FRR's echoes come back through our forwarding plane: its counters show them returned.
      const counters = await eventually("FRR counts echoes both ways", async () => {
        const c = JSON.parse(await frr.vtysh(`show bfd peer ${speakerV4} counters json`, "bfdd")) as Record<string, number>
        return (c["echo-packet-input"] ?? 0) > 20 && (c["echo-packet-output"] ?? 0) > 20 ? c : undefined
      }, { timeoutMs: 20_000, intervalMs: 200 })
      console.log(`FRR's counters: ${JSON.stringify(counters)}`)
      const before = { ...driver.counts }
      await eventually("our echoes return", async () => (driver.counts.echoesReturned > before.echoesReturned + 20 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 })
      expect(driver.counts.echoFailures).toBe(0)
      expect(changes.filter((c) => c.from === "Up")).toEqual([])

      // Drop only forwarded echoes in FRR's namespace: control packets (3784, to FRR itself) still flow.
      await router.run("nft", ["add", "table", "inet", "echocut"])
      await router.run("nft", ["add", "chain", "inet", "echocut", "forward", "{ type filter hook forward priority 0 ; policy accept ; }"])
      await router.run("nft", ["add", "rule", "inet", "echocut", "forward", "udp", "dport", "3785", "drop"])
      const cutMs = performance.now()
      const controlBefore = driver.counts.packetsReceived
      await eventually("our session Down", async () => (changes.some((c) => c.atMs >= cutMs && c.from === "Up") ? true : undefined), { timeoutMs: 5_000, intervalMs: 5 })
      const down = changes.find((c) => c.atMs >= cutMs && c.from === "Up")
      const detectionMs = Math.round((down?.atMs ?? Number.NaN) - cutMs)
      console.log(`BFD echo with FRR: echoes dropped in FRR's forwarding plane -> Down (diagnostic ${down?.diagnostic}) after ${detectionMs} ms (echo detection ${detectMultiplier} x ${echoMs} ms)`)
      expect(down).toMatchObject({ to: "Down", diagnostic: BfdDiagnostic.EchoFunctionFailed })
      expect(detectionMs).toBeLessThanOrEqual(detectMultiplier * echoMs + 500)
      // Control packets kept flowing through the failure.
      await eventually("control packets still arrive", async () => (driver.counts.packetsReceived > controlBefore ? true : undefined), { timeoutMs: 5_000, intervalMs: 50 })
      // FRR shows our diagnostic once our next control packet reaches it (one read right away raced it).
      const frrAfter = await eventually("FRR to see our Echo Function Failed", async () => {
        const view = JSON.parse(await frr.vtysh(`show bfd peer ${speakerV4} json`, "bfdd")) as Record<string, unknown>
        return view["remote-diagnostic"] === "echo function failed" ? view : undefined
      }, { timeoutMs: 5_000, intervalMs: 20 })
      console.log(`FRR after the cut: ${JSON.stringify(frrAfter)}`)
      expect(frrAfter["remote-diagnostic"]).toBe("echo function failed")
    } finally {
      driver.stop()
      await echoLink?.close()
      await link.close()
      await echo.close()
      await bfd.close()
    }
  }

  it("runs echo both ways with bfdd, and a drop of our echoes in FRR's forwarding plane brings the session Down with diagnostic 2", () => scenario("given"), 180_000)

  it("does the same with the echo port the BFD endpoint opens where the peer's control packets arrive (the speaker's path)", () => scenario("endpoint"), 180_000)
})
