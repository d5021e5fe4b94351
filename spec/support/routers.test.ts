import { existsSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { Lab, rootSkipReason } from "./netns.ts"
import {
  type BfdTimers,
  type NeighborConfig,
  parseBirdBfdSessions,
  parseBirdProtocols,
  parseBirdRoutes,
  parseGobgpNeighbors,
  parseGobgpRib,
  startBird,
  startFrr,
  startGobgp,
  waitBfdUp,
  waitEstablished,
  waitForRoute,
} from "./routers/index.ts"

const skipReason = rootSkipReason()

// Output captured from BIRD 2.0.12 (a path per neighbor, a community list long enough to wrap).
const birdRoutes = [
  "BIRD 2.0.12 ready.",
  "Table master4:",
  "198.51.100.0/24      unicast [peer0 05:29:23.792] * (100) [AS64502i]",
  "\tvia 192.0.2.2 on eth0",
  "\tType: BGP univ",
  "\tBGP.origin: IGP",
  "\tBGP.as_path: 64502 {64510 64511}",
  "\tBGP.next_hop: 192.0.2.2",
  "\tBGP.med: 7",
  "\tBGP.local_pref: 100",
  "\tBGP.community: (64502,100) (64502,101)",
  "\t\t(64502,139)",
  "\tBGP.large_community: (64502, 0, 0) (64502, 1, 1000)",
  "                     unicast [peer1 05:29:23.805] (100) [AS64503i]",
  "\tvia 192.0.2.3 on eth0",
  "\tType: BGP univ",
  "\tBGP.as_path: 64503",
  "\tBGP.next_hop: 192.0.2.3",
  "\tBGP.local_pref: 100",
  "\tBGP.community: (65535,65281)",
  "192.0.2.0/24         unicast [direct1 05:29:21.417] * (240)",
  "\tdev eth0",
  "\tType: device univ",
  "",
  "Table master6:",
  "2001:db8:100::/48    unicast [peer2 05:29:23.818] * (100) [AS64502i]",
  "\tvia 2001:db8:1::2 on eth0",
  "\tType: BGP univ",
  "\tBGP.as_path: 64502",
  "\tBGP.next_hop: 2001:db8:1::2 fe80::1",
  "\tBGP.local_pref: 100",
  "",
].join("\n")

const birdPeers = new Map<string, NeighborConfig>([
  ["peer0", { address: "192.0.2.2", asn: 64502 }],
  ["peer1", { address: "192.0.2.3", asn: 64503 }],
  ["peer2", { address: "2001:db8:1::2", asn: 64502 }],
])

describe("parsing router output", () => {
  it("reads BIRD's routes: every path, wrapped attributes, AS sets, IPv6 next hops with a link-local", () => {
    expect(parseBirdRoutes(birdRoutes, birdPeers)).toEqual([
      {
        prefix: "198.51.100.0/24",
        nextHop: "192.0.2.2",
        asPath: [64502, 64510, 64511],
        communities: ["64502:100", "64502:101", "64502:139"],
        largeCommunities: ["64502:0:0", "64502:1:1000"],
        localPref: 100,
        med: 7,
        neighbor: "192.0.2.2",
        best: true,
      },
      {
        prefix: "198.51.100.0/24",
        nextHop: "192.0.2.3",
        asPath: [64503],
        communities: ["65535:65281"],
        largeCommunities: [],
        localPref: 100,
        neighbor: "192.0.2.3",
        best: false,
      },
      {
        prefix: "2001:db8:100::/48",
        nextHop: "2001:db8:1::2",
        asPath: [64502],
        communities: [],
        largeCommunities: [],
        localPref: 100,
        neighbor: "2001:db8:1::2",
        best: true,
      },
    ])
  })

  it("reads BIRD's protocol and BFD states", () => {
    const protocols = [
      "BIRD 2.0.12 ready.",
      "Name       Proto      Table      State  Since         Info",
      "peer0      BGP        ---        up     05:19:13.867  Established   ",
      "  BGP state:          Established",
      "    Neighbor address: 192.0.2.2",
      "    Neighbor AS:      64502",
      "    Hold timer:       6.792/9",
      "  Channel ipv4",
      "    State:          UP",
      "peer1      BGP        ---        start  05:19:13.867  Active        Socket: Connection refused",
      "  BGP state:          Active",
      "    Neighbor address: 192.0.2.3",
      "    Neighbor AS:      64503",
      "    Last error:       Socket: Connection refused",
      "",
    ].join("\n")
    expect(parseBirdProtocols(protocols, birdPeers)).toEqual([
      { address: "192.0.2.2", asn: 64502, state: "Established", holdTimeSeconds: 9, lastError: undefined },
      { address: "192.0.2.3", asn: 64503, state: "Active", holdTimeSeconds: undefined, lastError: "Socket: Connection refused" },
      { address: "2001:db8:1::2", asn: 64502, state: "Idle", holdTimeSeconds: undefined, lastError: undefined },
    ])
    const bfd = [
      "BIRD 2.0.12 ready.",
      "bfd1:",
      "IP address                Interface  State      Since         Interval  Timeout",
      "192.0.2.2                 eth0       Up         05:29:03.171    0.200    0.800",
      "192.0.2.3                 ---        Init       05:29:03.171    1.000    0.000",
    ].join("\n")
    expect(parseBirdBfdSessions(bfd).map((s) => [s.peer, s.state, s.interface])).toEqual([
      ["192.0.2.2", "Up", "eth0"],
      ["192.0.2.3", "Init", undefined],
    ])
  })

  it("reads GoBGP's neighbors and RIB, leaving out locally originated paths", () => {
    const neighbors = JSON.stringify([
      { conf: { neighbor_address: "192.0.2.1", peer_asn: 64501 }, state: { session_state: 6 }, timers: { state: { negotiated_hold_time: 9 } } },
      { conf: { neighbor_address: "2001:db8:1::1", peer_asn: 64501 }, state: { session_state: 3 } },
    ])
    expect(parseGobgpNeighbors(neighbors).map((n) => [n.address, n.asn, n.state, n.holdTimeSeconds])).toEqual([
      ["192.0.2.1", 64501, "Established", 9],
      ["2001:db8:1::1", 64501, "Active", undefined],
    ])
    const rib = JSON.stringify({
      "198.51.100.0/24": [
        {
          nlri: { prefix: "198.51.100.0/24" },
          best: true,
          "neighbor-ip": "192.0.2.1",
          attrs: [
            { type: 2, as_paths: [{ segment_type: 2, num: 1, asns: [64501] }] },
            { type: 3, nexthop: "192.0.2.1" },
            { type: 4, metric: 50 },
            { type: 8, communities: [4259840100] },
            { type: 32, value: [{ ASN: 64501, LocalData1: 1, LocalData2: 2 }] },
          ],
        },
      ],
      "203.0.113.0/24": [{ nlri: { prefix: "203.0.113.0/24" }, best: true, attrs: [{ type: 3, nexthop: "0.0.0.0" }] }],
    })
    expect(parseGobgpRib(rib)).toEqual([
      {
        prefix: "198.51.100.0/24",
        nextHop: "192.0.2.1",
        asPath: [64501],
        communities: ["65000:100"],
        largeCommunities: ["64501:1:2"],
        med: 50,
        neighbor: "192.0.2.1",
        best: true,
      },
    ])
  })
})

describe.skipIf(skipReason !== undefined)(`test routers${skipReason === undefined ? "" : ` (skipped: ${skipReason})`}`, () => {
  it("BIRD and GoBGP establish eBGP over IPv4 and IPv6 and BIRD learns GoBGP's prefixes", async () => {
    const dirs: Array<string> = []
    {
      await using lab = await Lab.create("bird-gobgp")
      const a = await lab.host("a")
      const b = await lab.host("b")
      await lab.link(a, b, { aAddresses: ["192.0.2.1/24", "2001:db8:1::1/64"], bAddresses: ["192.0.2.2/24", "2001:db8:1::2/64"] })

      const [bird, gobgp] = await Promise.all([
        startBird(a, {
          routerId: "192.0.2.1",
          asn: 64501,
          neighbors: [
            { address: "192.0.2.2", asn: 64502 },
            { address: "2001:db8:1::2", asn: 64502 },
          ],
          announce: ["203.0.113.0/24"],
        }),
        startGobgp(b, {
          routerId: "192.0.2.2",
          asn: 64502,
          neighbors: [
            { address: "192.0.2.1", asn: 64501 },
            { address: "2001:db8:1::1", asn: 64501 },
          ],
          announce: ["2001:db8:100::/48"],
        }),
      ])
      dirs.push(bird.dir, gobgp.dir)
      await gobgp.announce("198.51.100.0/24", { communities: ["64502:100"], largeCommunities: ["64502:1:2"], med: 50 })

      await Promise.all([
        waitEstablished(bird, "192.0.2.2", 20_000),
        waitEstablished(bird, "2001:db8:1::2", 20_000),
        waitEstablished(gobgp, "192.0.2.1", 20_000),
        waitEstablished(gobgp, "2001:db8:1::1", 20_000),
      ])
      const v4 = await waitForRoute(bird, "198.51.100.0/24", { timeoutMs: 10_000 })
      expect(v4).toMatchObject({
        nextHop: "192.0.2.2",
        asPath: [64502],
        communities: ["64502:100"],
        largeCommunities: ["64502:1:2"],
        med: 50,
        localPref: 100,
        neighbor: "192.0.2.2",
        best: true,
      })
      const v6 = await waitForRoute(bird, "2001:db8:100::/48", { timeoutMs: 10_000 })
      expect(v6).toMatchObject({ nextHop: "2001:db8:1::2", asPath: [64502], neighbor: "2001:db8:1::2" })
      // Only learned routes: BIRD's own static route is not in its list.
      expect((await bird.routes()).map((r) => r.prefix).sort()).toEqual(["198.51.100.0/24", "2001:db8:100::/48"])

      const fromBird = await waitForRoute(gobgp, "203.0.113.0/24", { timeoutMs: 10_000 })
      expect(fromBird).toMatchObject({ nextHop: "192.0.2.1", asPath: [64501], neighbor: "192.0.2.1" })
      expect((await gobgp.neighbors()).map((n) => [n.address, n.state, n.asn])).toEqual([
        ["192.0.2.1", "Established", 64501],
        ["2001:db8:1::1", "Established", 64501],
      ])

      await gobgp.withdraw("198.51.100.0/24")
      await expect
        .poll(async () => (await bird.routes()).map((r) => r.prefix), { timeout: 10_000, interval: 100 })
        .toEqual(["2001:db8:100::/48"])
    }
    // The lab's close stopped the daemons, which removed the instance dirs.
    for (const dir of dirs) expect(existsSync(dir)).toBe(false)
  })

  it("FRR and BIRD establish with BFD up on both sides and FRR learns BIRD's prefix", async () => {
    await using lab = await Lab.create("frr-bird")
    const a = await lab.host("a")
    const b = await lab.host("b")
    await lab.link(a, b, { aAddresses: ["192.0.2.1/24"], bAddresses: ["192.0.2.2/24"] })
    const bfd: BfdTimers = { receiveIntervalMs: 100, transmitIntervalMs: 100, detectMultiplier: 3 }

    const [frr, bird] = await Promise.all([
      startFrr(a, {
        routerId: "192.0.2.1",
        asn: 64501,
        neighbors: [{ address: "192.0.2.2", asn: 64502, holdTimeSeconds: 9, bfd }],
        announce: ["203.0.113.0/24"],
      }),
      startBird(b, {
        routerId: "192.0.2.2",
        asn: 64502,
        neighbors: [{ address: "192.0.2.1", asn: 64501, bfd }],
        announce: ["198.51.100.0/24"],
      }),
    ])

    const session = await waitEstablished(frr, "192.0.2.2", 20_000)
    expect(session).toMatchObject({ asn: 64502, holdTimeSeconds: 9 })
    const learned = await waitForRoute(frr, "198.51.100.0/24", { timeoutMs: 10_000 })
    expect(learned).toMatchObject({ nextHop: "192.0.2.2", asPath: [64502], neighbor: "192.0.2.2", best: true })
    expect(await waitForRoute(bird, "203.0.113.0/24", { timeoutMs: 10_000 })).toMatchObject({
      nextHop: "192.0.2.1",
      asPath: [64501],
    })

    const frrBfd = await waitBfdUp(frr, "192.0.2.2", 15_000)
    expect(frrBfd.details).toMatchObject({ "detect-multiplier": 3 })
    expect((await frr.bfdPeers()).map((p) => [p.peer, p.state])).toEqual([["192.0.2.2", "Up"]])
    await waitBfdUp(bird, "192.0.2.1", 15_000)
  })

  it("reports a config the daemon refuses with the daemon's words and the generated config", async () => {
    await using lab = await Lab.create("bad-config")
    const a = await lab.host("a")
    // RFC 4271 allows hold times of 0 or at least 3 s; BIRD refuses the rest when parsing.
    const started = startBird(a, { routerId: "192.0.2.1", asn: 64501, neighbors: [{ address: "192.0.2.2", asn: 64502, holdTimeSeconds: 1 }] })
    await expect(started).rejects.toThrow(/did not start[\s\S]*bird\.conf[\s\S]*hold time 1;/)
  })
})
