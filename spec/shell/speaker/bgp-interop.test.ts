// The speaker's BGP sessions against real routers in network namespaces: BIRD 2 (eBGP), FRR (iBGP) and
// GoBGP (eBGP, the router dialling our listener, one IPv4 session carrying both families). Each reaches
// Established, the announced IPv4 and IPv6 prefixes arrive with the expected attributes (communities,
// large communities, local-pref on iBGP, AS path on eBGP, next hop = our end of the session) and are
// gone from the router after the speaker withdraws them. MD5, BFD and the hold timer are in
// bgp-interop-frr.test.ts.
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { testFibers } from "../../support/fibers.ts"
import type { TcpAddonApi } from "../../../shell/native/tcp.ts"
import { PeerSession } from "../../../shell/speaker/peer-session.ts"
import { listenBgp, tcpAddon } from "../../../shell/speaker/bgp-transport.ts"
import { eventually, rootSkipReason } from "../../support/netns.ts"
import { type BgpRouter, type LearnedRoute, sameAddress, startBird, startFrr, startGobgp, waitEstablished, waitForRoute } from "../../support/routers/index.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { ensureAddonBuilt } from "../native/build-addon.ts"
import { address, peer, route, routerV4, routerV6, speakerAndRouter, speakerV4, speakerV6, testBackoff, waitSessionState } from "./interop-support.ts"

const v4Prefix = "198.51.100.10/32"
const v6Prefix = "2001:db8:100::10/128"

const fromSpeaker = async (router: BgpRouter): Promise<ReadonlyArray<LearnedRoute>> =>
  (await router.routes()).filter((r) => sameAddress(r.neighbor, speakerV4) || sameAddress(r.neighbor, speakerV6))

const waitWithdrawn = (router: BgpRouter) =>
  eventually(`${router.kind}: the speaker's routes withdrawn`, async () => {
    const left = await fromSpeaker(router)
    if (left.length === 0) return true
    throw new Error(`still ${left.map((r) => r.prefix).join(", ")}`)
  }, { timeoutMs: 10_000, intervalMs: 100 })

const skipReason = rootSkipReason()

// The drivers' fibers and sockets belong to this scope, as they belong to the speaker's.
const fibers = testFibers()
afterAll(() => fibers.shutdown())

describe.skipIf(skipUnlessCi(skipReason))(`BGP interop with real routers${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let tcp: TcpAddonApi
  beforeAll(async () => {
    ensureAddonBuilt()
    tcp = await Effect.runPromise(tcpAddon)
  }, 300_000)

  it("BIRD 2, eBGP over IPv4 and IPv6: Established, prefixes with AS path, next hop and communities, then withdrawn", async () => {
    const { lab, node, router } = await speakerAndRouter("bird")
    await using _ = lab
    await using bird = await startBird(router, {
      routerId: routerV4,
      asn: 64501,
      neighbors: [{ address: speakerV4, asn: 64500 }, { address: speakerV6, asn: 64500 }],
    })
    const sessions = await Promise.all([
      PeerSession.open({ fibers, peer: peer({ name: "bird-v4", address: routerV4, myAsn: 64500, peerAsn: 64501 }), tcp, netnsPath: node.netnsPath, routerId: address(speakerV4), backoff: testBackoff }),
      PeerSession.open({ fibers, peer: peer({ name: "bird-v6", address: routerV6, myAsn: 64500, peerAsn: 64501 }), tcp, netnsPath: node.netnsPath, routerId: address(speakerV4), backoff: testBackoff }),
    ])
    try {
      const [v4, v6] = sessions
      v4?.setRoutes([route(v4Prefix, 150)])
      v6?.setRoutes([route(v6Prefix, 150)])
      for (const s of sessions) s.start()
      await waitEstablished(bird, speakerV4)
      await waitEstablished(bird, speakerV6)
      for (const s of sessions) await waitSessionState(s, "Established")
      expect(v4?.bgp.negotiated).toMatchObject({ peerAsn: 64501, families: ["ipv4"], fourOctetAsn: true })
      expect(v6?.bgp.negotiated).toMatchObject({ peerAsn: 64501, families: ["ipv6"] })

      const r4 = await waitForRoute(bird, v4Prefix, { neighbor: speakerV4 })
      expect(r4).toMatchObject({ nextHop: speakerV4, asPath: [64500], communities: ["64500:100"], largeCommunities: ["64500:1:2"] })
      const r6 = await waitForRoute(bird, v6Prefix, { neighbor: speakerV6 })
      expect(r6).toMatchObject({ nextHop: speakerV6, asPath: [64500], communities: ["64500:100"], largeCommunities: ["64500:1:2"] })

      for (const s of sessions) s.setRoutes([])
      await waitWithdrawn(bird)
      // The sessions stay up through the withdrawal.
      expect((await bird.neighbors()).map((n) => n.state)).toEqual(["Established", "Established"])
    } finally {
      for (const s of sessions) await s.stop()
    }
  })

  it("FRR, iBGP over IPv4 and IPv6: Established, prefixes with local-pref, empty AS path, next hop and communities, then withdrawn", async () => {
    const { lab, node, router } = await speakerAndRouter("frr")
    await using _ = lab
    await using frr = await startFrr(router, {
      routerId: routerV4,
      asn: 64500,
      neighbors: [{ address: speakerV4, asn: 64500 }, { address: speakerV6, asn: 64500 }],
    })
    const sessions = await Promise.all([
      PeerSession.open({ fibers, peer: peer({ name: "frr-v4", address: routerV4, myAsn: 64500, peerAsn: 64500 }), tcp, netnsPath: node.netnsPath, routerId: address(speakerV4), backoff: testBackoff }),
      PeerSession.open({ fibers, peer: peer({ name: "frr-v6", address: routerV6, myAsn: 64500, peerAsn: 64500 }), tcp, netnsPath: node.netnsPath, routerId: address(speakerV4), backoff: testBackoff }),
    ])
    try {
      const [v4, v6] = sessions
      v4?.setRoutes([route(v4Prefix, 150), route("198.51.100.11/32")])
      v6?.setRoutes([route(v6Prefix, 150)])
      for (const s of sessions) s.start()
      await waitEstablished(frr, speakerV4)
      await waitEstablished(frr, speakerV6)

      const r4 = await waitForRoute(frr, v4Prefix, { neighbor: speakerV4 })
      expect(r4).toMatchObject({ nextHop: speakerV4, asPath: [], localPref: 150, communities: ["64500:100"], largeCommunities: ["64500:1:2"] })
      // No local-pref in the advertisement: FRR's default, 100, is sent on iBGP.
      expect(await waitForRoute(frr, "198.51.100.11/32", { neighbor: speakerV4 })).toMatchObject({ localPref: 100 })
      const r6 = await waitForRoute(frr, v6Prefix, { neighbor: speakerV6 })
      expect(r6).toMatchObject({ nextHop: speakerV6, asPath: [], localPref: 150, communities: ["64500:100"], largeCommunities: ["64500:1:2"] })

      v4?.setRoutes([route("198.51.100.11/32")])
      await eventually("FRR: only 198.51.100.11/32 left from IPv4", async () => {
        const left = (await fromSpeaker(frr)).filter((r) => sameAddress(r.neighbor, speakerV4)).map((r) => r.prefix)
        return left.length === 1 && left[0] === "198.51.100.11/32" ? true : undefined
      }, { timeoutMs: 10_000, intervalMs: 100 })
      for (const s of sessions) s.setRoutes([])
      await waitWithdrawn(frr)
    } finally {
      for (const s of sessions) await s.stop()
    }
  })

  it("GoBGP dials our listener; one IPv4 session with dualStackAddressFamily carries both families", async () => {
    const { lab, node, router } = await speakerAndRouter("gobgp")
    await using _ = lab
    await using gobgp = await startGobgp(router, {
      routerId: routerV4,
      asn: 64502,
      neighbors: [{ address: speakerV4, asn: 64500, ipv4: true, ipv6: true }],
    })
    const listener = await listenBgp(tcp, { fibers, address: "::", port: 179, netnsPath: node.netnsPath })
    const session = await PeerSession.open({
      fibers,
      peer: peer({ name: "gobgp", address: routerV4, myAsn: 64500, peerAsn: 64502, dualStackAddressFamily: true }),
      tcp,
      netnsPath: node.netnsPath,
      routerId: address(speakerV4),
      passive: true,
      listener,
      // An IPv4 session has no IPv6 end of its own to use as the IPv6 next hop.
      nextHops: { ipv6: [address(speakerV6)] },
      backoff: testBackoff,
    })
    try {
      session.setRoutes([route(v4Prefix), route(v6Prefix)])
      session.start()
      await waitEstablished(gobgp, speakerV4)
      await waitSessionState(session, "Established")
      expect(session.bgp.negotiated).toMatchObject({ peerAsn: 64502, families: ["ipv4", "ipv6"] })
      expect(await waitForRoute(gobgp, v4Prefix)).toMatchObject({ nextHop: speakerV4, asPath: [64500], communities: ["64500:100"], largeCommunities: ["64500:1:2"] })
      expect(await waitForRoute(gobgp, v6Prefix)).toMatchObject({ nextHop: speakerV6, asPath: [64500], communities: ["64500:100"], largeCommunities: ["64500:1:2"] })
      session.setRoutes([])
      await waitWithdrawn(gobgp)
      expect(listener.refused()).toBe(0)
    } finally {
      await session.stop()
      await listener.close()
    }
  })
})
