// BGPPeer.spec.vrf where the node has no such VRF, against FRR in network namespaces: the session does
// not start and says why (no such device; a device that is not a VRF; BFD, whose UDP socket would run
// in the default VRF), the transport's dial fails with ENODEV, no listener is opened for the VRF,
// and FRR's host never sees a connection, although the peer is reachable in the default VRF. (The kernel
// here has no VRF support, CONFIG_NET_VRF unset, so sessions inside a real VRF are not exercised.)
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { testFibers } from "../../support/fibers.ts"
import type { TcpAddonApi } from "../../../shell/native/tcp.ts"
import { openBgpListeners } from "../../../shell/speaker/bgp-listeners.ts"
import { tcpAddon, tcpTransport } from "../../../shell/speaker/bgp-transport.ts"
import type { CallbackLog } from "../../../shell/speaker/callback-log.ts"
import { PeerSession } from "../../../shell/speaker/peer-session.ts"
import { type Host, rootSkipReason } from "../../support/netns.ts"
import { startFrr } from "../../support/routers/index.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { ensureAddonBuilt } from "../native/build-addon.ts"
import { address, bfdProfile, peer, routerV4, speakerAndRouter, speakerV4, testBackoff } from "./interop-support.ts"


/** TCP connections the host's kernel accepted (SYNs answered) since the namespace was made. */
const passiveOpens = async (host: Host): Promise<number> => {
  const { stdout } = await host.run("nstat", ["-asz", "TcpPassiveOpens"])
  return Number(/^TcpPassiveOpens\s+(\d+)/m.exec(stdout)?.[1] ?? NaN)
}

const skipReason = rootSkipReason()

// The drivers' fibers and sockets belong to this scope, as they belong to the speaker's.
const fibers = testFibers()
afterAll(() => fibers.shutdown())

describe.skipIf(skipUnlessCi(skipReason))(`BGP peer in a VRF the node does not have${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let tcp: TcpAddonApi
  beforeAll(async () => {
    ensureAddonBuilt()
    tcp = await Effect.runPromise(tcpAddon)
  }, 300_000)

  it("the session does not start and says why; nothing is dialled in the default VRF, where FRR is reachable", async () => {
    const { lab, node, router } = await speakerAndRouter("vrfabsent")
    await using _ = lab
    await using frr = await startFrr(router, { routerId: routerV4, asn: 64501, neighbors: [{ address: speakerV4, asn: 64500, passive: true }] })
    const open = (vrf: string, withBfd: boolean) =>
      PeerSession.open({
        fibers,
        peer: peer({ name: "red-peer", address: routerV4, myAsn: 64500, peerAsn: 64501, vrf, ...(withBfd ? { bfdProfile: "fast" } : {}) }),
        tcp,
        netnsPath: node.netnsPath,
        routerId: address(speakerV4),
        backoff: testBackoff,
        ...(withBfd ? { bfdProfile } : {}),
      }).then(() => "started", (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error)))
    const nodeInterface = (await node.run("ip", ["-o", "link", "show", "type", "veth"])).stdout.split(":")[1]?.trim().split("@")[0] ?? ""

    expect(await open("red", false)).toBe(
      'PeerSessionError: peer red-peer: no VRF device "red" exists on this node; the session is not started (it is never dialled in the default VRF)',
    )
    expect(await open(nodeInterface, false)).toBe(
      `PeerSessionError: peer red-peer: device "${nodeInterface}" exists on this node but is not a VRF; the session is not started (it is never dialled in the default VRF)`,
    )
    expect(await open("red", true)).toBe(
      'PeerSessionError: peer red-peer: BFD (profile "fast") in VRF "red" is not supported: its UDP socket would run in the default VRF; the session is not started (it is never dialled in the default VRF)',
    )

    // Below the session: the transport's dial in the absent VRF fails without a packet leaving.
    const failure = await new Promise<string>((resolve) => {
      tcpTransport(tcp, { fibers, peerAddress: routerV4, peerPort: 179, ttl: 1, connectTimeoutMs: 2_000, netnsPath: node.netnsPath, vrf: "red" })
        .connect(() => resolve("connected"), resolve)
    })
    expect(failure).toMatch(/^ENODEV: tcpConnect: ioctl\(SIOCETHTOOL\) on the VRF device failed/)
    // No listener is opened for the VRF.
    const lines: Array<string> = []
    const log: CallbackLog = (level, message) => lines.push(`${level}: ${message}`)
    const listeners = await openBgpListeners(tcp, { fibers, log, netnsPath: node.netnsPath })
    try {
      expect(await listeners.forPeer("ipv4", "red")).toBeUndefined()
      expect(await listeners.forPeer("ipv4", "")).toBeDefined()
    } finally {
      await listeners.close()
    }
    // The session's refusal is the one report of the missing VRF.
    expect(lines).toEqual([])

    // FRR is there and reachable in the default VRF (a plain dial connects), yet nothing had reached it before.
    expect(await passiveOpens(router)).toBe(0)
    const reachable = await new Promise<string>((resolve) => {
      tcpTransport(tcp, { fibers, peerAddress: routerV4, peerPort: 179, ttl: 1, connectTimeoutMs: 2_000, netnsPath: node.netnsPath })
        .connect((connection) => {
          connection.close()
          resolve("connected")
        }, resolve)
    })
    expect(reachable, frr.output()).toBe("connected")
    expect(await passiveOpens(router)).toBe(1)
  })
})
