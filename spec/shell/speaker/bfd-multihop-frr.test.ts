// Multihop BFD (RFC 5883) against FRR's bfdd across a routed hop: the speaker (192.0.2.10) and FRR
// (203.0.113.2) are on two subnets joined by a forwarding namespace, so every packet arrives with TTL
// 254. An eBGP multihop session with a BFD profile runs BFD on UDP 4784; FRR's bfdd shows the
// session as multihop and Up, and cutting the far link takes our BGP session down within BFD's
// detection time rather than the 90 s hold time.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { testFibers } from "../../support/fibers.ts"
import type { CloseReason } from "../../../core/bgp/session.ts"
import { openBfdEndpoint } from "../../../shell/speaker/bfd-transport.ts"
import { PeerSession } from "../../../shell/speaker/peer-session.ts"
import { eventually, Lab, rootSkipReason } from "../../support/netns.ts"
import { startFrr, waitBfdUp, waitEstablished } from "../../support/routers/index.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { address, bfdProfile, interopAddons, peer, testBackoff, waitSessionState } from "./interop-support.ts"

const skipReason = rootSkipReason()
const speaker = "192.0.2.10"
const frrAddress = "203.0.113.2"

// The drivers' fibers and sockets belong to this scope, as they belong to the speaker's.
const fibers = testFibers()
afterAll(() => fibers.shutdown())

describe.skipIf(skipUnlessCi(skipReason))(`multihop BFD with FRR${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let addons: Awaited<ReturnType<typeof interopAddons>>
  beforeAll(async () => {
    addons = await interopAddons()
  }, 300_000)

  it("comes Up across a router (UDP 4784, TTL 254) and takes BGP down within the detection time when the path breaks", async () => {
    await using lab = await Lab.create("bfdmh")
    const node = await lab.host("node")
    const middle = await lab.host("middle")
    const router = await lab.host("router")
    await lab.link(node, middle, { aAddresses: [`${speaker}/24`], bAddresses: ["192.0.2.1/24"] })
    const { aName: farInterface } = await lab.link(middle, router, { aAddresses: ["203.0.113.1/24"], bAddresses: [`${frrAddress}/24`] })
    await middle.run("sysctl", ["-qw", "net.ipv4.ip_forward=1"])
    await node.run("ip", ["route", "add", "203.0.113.0/24", "via", "192.0.2.1"])
    await router.run("ip", ["route", "add", "192.0.2.0/24", "via", "203.0.113.1"])
    await using frr = await startFrr(router, {
      routerId: frrAddress,
      asn: 64501,
      neighbors: [{ address: speaker, asn: 64500, holdTimeSeconds: 90, multihop: true, bfd: { receiveIntervalMs: 300, transmitIntervalMs: 300, detectMultiplier: 3 } }],
    })
    const bfd = openBfdEndpoint(addons.udp, { fibers, netnsPath: node.netnsPath })
    const timeline: { bgpDownMs?: number; reason?: CloseReason } = {}
    const session = await PeerSession.open({
      fibers,
      peer: peer({ name: "frr-mh", address: frrAddress, myAsn: 64500, peerAsn: 64501, holdTimeSeconds: 90, keepaliveTimeSeconds: 30, ebgpMultiHop: true, bfdProfile: "fast" }),
      bfdProfile,
      bfd,
      tcp: addons.tcp,
      netnsPath: node.netnsPath,
      routerId: address(speaker),
      backoff: testBackoff,
      events: {
        onSessionDown: (reason) => {
          timeline.bgpDownMs ??= performance.now()
          timeline.reason ??= reason
        },
      },
    })
    try {
      session.start()
      await waitEstablished(frr, speaker, 45_000)
      await waitSessionState(session, "Established")
      const frrSide = await waitBfdUp(frr, speaker, 30_000)
      await eventually("our BFD session Up", async () => (session.bfd?.state === "Up" ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 })
      // bfdd runs it as a multihop session between the two session addresses.
      expect(frrSide.details).toMatchObject({ multihop: true, peer: speaker, local: frrAddress })
      // Nothing we sent to the single-hop port, nothing FRR sent was discarded for its TTL.
      expect(bfd.unmatched()).toBe(0)

      const cutMs = performance.now()
      await middle.run("ip", ["link", "set", farInterface, "down"])
      await eventually("the speaker's BGP session down", async () => (timeline.bgpDownMs === undefined ? undefined : true), { timeoutMs: 5_000, intervalMs: 10 })
      const detectionMs = Math.round((timeline.bgpDownMs ?? Number.NaN) - cutMs)
      console.log(`multihop BFD with FRR: path cut one hop away -> BGP session down after ${detectionMs} ms (detection time 3 x 300 ms; hold time 90 s)`)
      expect(timeline.reason).toEqual({ _tag: "BfdDown" })
      expect(detectionMs).toBeLessThanOrEqual(3 * 300 + 300)
    } finally {
      await session.stop()
      await bfd.close()
    }
  }, 120_000)
})
