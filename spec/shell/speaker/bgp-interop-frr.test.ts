// The speaker's session features against FRR in network namespaces: a TCP-MD5 protected session
// (bgpd drops unsigned segments, so Established means we sign with the right key), a BFD session with
// bfdd that comes Up and, when the link is cut, takes the BGP session down within BFD's detection time
// (3 x 300 ms) rather than the 90 s hold time, and a peer that goes silent (bgpd stopped with SIGSTOP:
// its kernel still ACKs, nothing else arrives) dropped when the 3 s hold timer expires.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { testFibers } from "../../support/fibers.ts"
import type { CloseReason } from "../../../core/bgp/session.ts"
import type { TcpAddonApi } from "../../../shell/native/tcp.ts"
import type { UdpAddonApi } from "../../../shell/native/udp.ts"
import { openBfdEndpoint } from "../../../shell/speaker/bfd-transport.ts"
import { PeerSession } from "../../../shell/speaker/peer-session.ts"
import { eventually, rootSkipReason } from "../../support/netns.ts"
import { startFrr, waitBfdUp, waitEstablished, waitForRoute } from "../../support/routers/index.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { address, bfdProfile, interopAddons, peer, route, routerV4, speakerAndRouter, speakerV4, testBackoff, waitSessionState } from "./interop-support.ts"

const detectionLimitMs = bfdProfile.detectMultiplier * bfdProfile.receiveIntervalMs

const skipReason = rootSkipReason()

// The drivers' fibers and sockets belong to this scope, as they belong to the speaker's.
const fibers = testFibers()
afterAll(() => fibers.shutdown())

describe.skipIf(skipUnlessCi(skipReason))(`BGP interop with FRR: MD5, BFD, hold timer${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let tcp: TcpAddonApi
  let udp: UdpAddonApi
  beforeAll(async () => {
    ;({ tcp, udp } = await interopAddons())
  }, 300_000)

  it("an MD5-protected session with FRR reaches Established and carries routes", async () => {
    const { lab, node, router } = await speakerAndRouter("md5")
    await using _ = lab
    await using frr = await startFrr(router, {
      routerId: routerV4,
      asn: 64501,
      neighbors: [{ address: speakerV4, asn: 64500, password: "metallb-md5" }],
    })
    const session = await PeerSession.open({
      fibers,
      peer: peer({ name: "frr-md5", address: routerV4, myAsn: 64500, peerAsn: 64501, password: "metallb-md5" }),
      tcp,
      netnsPath: node.netnsPath,
      routerId: address(speakerV4),
      backoff: testBackoff,
    })
    try {
      session.setRoutes([route("198.51.100.20/32")])
      session.start()
      await waitEstablished(frr, speakerV4)
      await waitSessionState(session, "Established")
      expect(await waitForRoute(frr, "198.51.100.20/32", { neighbor: speakerV4 })).toMatchObject({ nextHop: speakerV4, asPath: [64500] })
      // Every segment both ways was signed and verified.
      const { stdout } = await router.run("nstat", ["-asz", "TcpExtTCPMD5NotFound", "TcpExtTCPMD5Unexpected", "TcpExtTCPMD5Failure"])
      for (const line of stdout.split("\n").filter((l) => l.startsWith("TcpExt"))) expect(line).toMatch(/\s0\s/)
    } finally {
      await session.stop()
    }
  })

  it("BFD with FRR's bfdd comes Up; cutting the link takes the BGP session down within the detection time", async () => {
    const { lab, node, router, routerInterface } = await speakerAndRouter("bfd")
    await using _ = lab
    await using frr = await startFrr(router, {
      routerId: routerV4,
      asn: 64501,
      neighbors: [{ address: speakerV4, asn: 64500, holdTimeSeconds: 90, bfd: { receiveIntervalMs: 300, transmitIntervalMs: 300, detectMultiplier: 3 } }],
    })
    const bfd = openBfdEndpoint(udp, { fibers, netnsPath: node.netnsPath })
    const timeline: { bgpDownMs?: number; bfdDownMs?: number; reason?: CloseReason } = {}
    const session = await PeerSession.open({
      fibers,
      peer: peer({ name: "frr-bfd", address: routerV4, myAsn: 64500, peerAsn: 64501, holdTimeSeconds: 90, keepaliveTimeSeconds: 30, bfdProfile: "fast" }),
      bfdProfile,
      bfd,
      tcp,
      netnsPath: node.netnsPath,
      routerId: address(speakerV4),
      backoff: testBackoff,
      events: {
        onSessionDown: (reason) => {
          timeline.bgpDownMs ??= performance.now()
          timeline.reason ??= reason
        },
        onBfdStateChanged: (from, to) => {
          if (from === "Up" && to === "Down") timeline.bfdDownMs ??= performance.now()
        },
      },
    })
    try {
      session.start()
      await waitEstablished(frr, speakerV4)
      await waitSessionState(session, "Established")
      const frrSide = await waitBfdUp(frr, speakerV4)
      await eventually("our BFD session Up", async () => (session.bfd?.state === "Up" ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 })
      // Both ends run at the profile's rate once Up (the 1 s slow rate is only for the handshake).
      expect(frrSide.details).toMatchObject({ "remote-receive-interval": 300, "remote-transmit-interval": 300, "remote-detect-multiplier": 3 })
      // Steady state for a few intervals before the cut.
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      expect(session.state).toBe("Established")

      const cutMs = performance.now()
      await router.run("ip", ["link", "set", routerInterface, "down"])
      await eventually("the speaker's BGP session down", async () => (timeline.bgpDownMs === undefined ? undefined : true), { timeoutMs: 5_000, intervalMs: 10 })
      const bgpDetectionMs = Math.round((timeline.bgpDownMs ?? Number.NaN) - cutMs)
      const bfdDetectionMs = Math.round((timeline.bfdDownMs ?? Number.NaN) - cutMs)
      console.log(`BFD with FRR: link cut -> BFD Down after ${bfdDetectionMs} ms, BGP session down after ${bgpDetectionMs} ms (detection time 3 x 300 ms = ${detectionLimitMs} ms; hold time 90 s)`)
      expect(timeline.reason).toEqual({ _tag: "BfdDown" })
      // Timers on a loaded machine may fire a little late; the hold timer would take 90 s.
      expect(bgpDetectionMs).toBeLessThanOrEqual(detectionLimitMs + 300)
    } finally {
      await session.stop()
      await bfd.close()
    }
  })

  it("a silent peer (bgpd stopped) is dropped when the 3 s hold timer expires", async () => {
    const { lab, node, router } = await speakerAndRouter("hold")
    await using _ = lab
    await using frr = await startFrr(router, {
      routerId: routerV4,
      asn: 64501,
      neighbors: [{ address: speakerV4, asn: 64500, holdTimeSeconds: 3, keepaliveSeconds: 1 }],
    })
    let down: { readonly atMs: number; readonly reason: CloseReason } | undefined
    const session = await PeerSession.open({
      fibers,
      peer: peer({ name: "frr-hold", address: routerV4, myAsn: 64500, peerAsn: 64501, holdTimeSeconds: 3, keepaliveTimeSeconds: 1 }),
      tcp,
      netnsPath: node.netnsPath,
      routerId: address(speakerV4),
      backoff: testBackoff,
      events: { onSessionDown: (reason) => { down ??= { atMs: performance.now(), reason } } },
    })
    const bgpdPid = Number(readFileSync(join(frr.dir, "bgpd.pid"), "utf8").trim())
    try {
      session.start()
      await waitEstablished(frr, speakerV4)
      await waitSessionState(session, "Established")
      expect(session.bgp.negotiated).toMatchObject({ holdTimeSeconds: 3, keepaliveTimeSeconds: 1 })
      // Longer than the hold time: keepalives both ways keep the session up while the peer talks. Half
      // a keepalive interval off the whole second, so the peer stops mid-way between two keepalives.
      await new Promise((resolve) => setTimeout(resolve, 3_500))
      expect(down).toBeUndefined()
      expect((await frr.neighbors())[0]?.state).toBe("Established")
      process.kill(bgpdPid, "SIGSTOP")
      const silentFromMs = performance.now()
      await eventually("the speaker drops the silent peer", async () => (down === undefined ? undefined : true), { timeoutMs: 8_000, intervalMs: 20 })
      const afterMs = Math.round((down?.atMs ?? Number.NaN) - silentFromMs)
      console.log(`hold timer: silent peer dropped ${afterMs} ms after it stopped (hold time 3 s, keepalives every 1 s until then)`)
      expect(down?.reason).toEqual({ _tag: "HoldTimerExpired" })
      // The last keepalive came at most one keepalive interval (1 s) before the peer went silent.
      expect(afterMs).toBeGreaterThanOrEqual(1_900)
      expect(afterMs).toBeLessThanOrEqual(3_500)
    } finally {
      process.kill(bgpdPid, "SIGCONT")
      await session.stop()
    }
  })
})
