// BGP unnumbered against FRR in network namespaces: a veth with IPv6 link-local addresses only (no
// IPv4, no global IPv6 on either end), FRR configured as MetalLB's FRR mode configures an interface
// peer (`neighbor <if> interface remote-as external`, both families activated). The speaker learns
// FRR's link-local address from its Router Advertisements, dials it with the interface as zone,
// negotiates RFC 8950 extended next hop, and announces an IPv4 and an IPv6 route; FRR installs both in
// the kernel with our link-local address as the gateway (the IPv4 route "via inet6 fe80::..."). With a
// BFD profile, single-hop BFD runs between the two link-local addresses with FRR's bfdd, and cutting
// the link takes the BGP session down within BFD's detection time.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { testFibers } from "../../support/fibers.ts"
import type { CloseReason } from "../../../core/bgp/session.ts"
import type { Peer } from "../../../core/config/config.ts"
import { openBfdEndpoint } from "../../../shell/speaker/bfd-transport.ts"
import { PeerSession } from "../../../shell/speaker/peer-session.ts"
import { eventually, type Host, Lab, rootSkipReason, run } from "../../support/netns.ts"
import { startFrr, waitBfdUp } from "../../support/routers/index.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { resolvedPeer } from "../../core/speaker/peer-fixture.ts"
import { address, bfdProfile, interopAddons, route, testBackoff, waitSessionState } from "./interop-support.ts"

const skipReason = rootSkipReason()

const linkLocalOf = async (host: Host, interfaceName: string): Promise<string> => {
  const { stdout } = await host.run("ip", ["-j", "-6", "address", "show", "dev", interfaceName, "scope", "link"])
  const parsed = JSON.parse(stdout) as ReadonlyArray<{ addr_info?: ReadonlyArray<{ local?: string }> }>
  const local = parsed[0]?.addr_info?.[0]?.local
  if (local === undefined) throw new Error(`no link-local address on ${interfaceName}: ${stdout}`)
  return local
}

/** A link-local-only link and FRR with an interface peer on it (`bfd`: with bgpd's `neighbor <if> bfd`). */
const unnumberedLab = async (label: string, options: { readonly bfd?: boolean } = {}) => {
  const lab = await Lab.create(label)
  const node = await lab.host("node")
  const router = await lab.host("router")
  // No addresses: each end has only the link-local address the kernel gives it.
  const { aName: nodeInterface, bName: routerInterface } = await lab.link(node, router)
  const frr = await startFrr(router, { routerId: "192.0.2.1", asn: 64501, neighbors: [], installRoutes: true })
  const { stderr } = await run("vtysh", [
    "--vty_socket", frr.dir, "-d", "bgpd",
    "-c", "configure terminal",
    "-c", "debug bgp neighbor-events",
    "-c", "router bgp 64501",
    "-c", `neighbor ${routerInterface} interface remote-as external`,
    "-c", `neighbor ${routerInterface} timers connect 2`,
    ...(options.bfd === true ? ["-c", `neighbor ${routerInterface} bfd`] : []),
    "-c", "address-family ipv4 unicast",
    "-c", `neighbor ${routerInterface} activate`,
    "-c", "exit-address-family",
    "-c", "address-family ipv6 unicast",
    "-c", `neighbor ${routerInterface} activate`,
    "-c", "exit-address-family",
  ])
  if (stderr !== "") throw new Error(`FRR refused the interface peer's configuration: ${stderr}`)
  return { lab, node, router, nodeInterface, routerInterface, frr }
}

const unnumberedPeer = (nodeInterface: string, fields: Partial<Peer> = {}): Peer =>
  resolvedPeer({ name: "tor", interface: nodeInterface, myAsn: 64500, peerAsn: 64501, holdTimeSeconds: 9, keepaliveTimeSeconds: 3, connectTimeSeconds: 2, ...fields })

/** FRR's view of one prefix: its paths' next hops and whether zebra installed it. */
interface FrrPrefix {
  readonly paths?: ReadonlyArray<{ readonly nexthops?: ReadonlyArray<{ readonly ip?: string; readonly afi?: string; readonly scope?: string }> }>
}

// The drivers' fibers and sockets belong to this scope, as they belong to the speaker's.
const fibers = testFibers()
afterAll(() => fibers.shutdown())

describe.skipIf(skipUnlessCi(skipReason))(`BGP unnumbered with FRR${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let addons: Awaited<ReturnType<typeof interopAddons>>
  beforeAll(async () => {
    addons = await interopAddons()
  }, 300_000)

  it("peers over link-local addresses only and FRR installs IPv4 and IPv6 routes via our link-local address", async () => {
    const { lab, node, router, nodeInterface, routerInterface, frr: started } = await unnumberedLab("unnum")
    await using _ = lab
    await using frr = started
    const nodeLinkLocal = await linkLocalOf(node, nodeInterface)
    const routerLinkLocal = await linkLocalOf(router, routerInterface)
    // The addon's source-address lookup (what the speaker advertises from) agrees with the kernel's list.
    expect(addons.tcp.sourceAddress({ destination: `ff02::1%${nodeInterface}`, netnsPath: node.netnsPath })).toBe(nodeLinkLocal)
    expect(() => addons.tcp.sourceAddress({ destination: "ff02::1%nosuchif0", netnsPath: node.netnsPath })).toThrow(/ENODEV/)

    const logs: Array<string> = []
    const session = await PeerSession.open({
      fibers,
      peer: unnumberedPeer(nodeInterface),
      tcp: addons.tcp,
      packet: addons.packet,
      netnsPath: node.netnsPath,
      routerId: address("192.0.2.10"),
      backoff: testBackoff,
      events: { onLog: (line) => logs.push(line), onStateChanged: (from, to) => logs.push(`${from} -> ${to}`) },
    })
    try {
      session.setRoutes([route("198.51.100.30/32"), route("2001:db8:ff::30/128")])
      session.start()
      await waitSessionState(session, "Established", 45_000)
      // Found from FRR's Router Advertisement, not configured anywhere.
      expect(session.neighbour?.current()).toBe(routerLinkLocal)
      expect(session.peerAddress).toBe(nodeInterface)
      expect(session.bgp.negotiated).toMatchObject({ families: ["ipv4", "ipv6"], extendedNextHop: true })

      const prefix = async (family: "ipv4" | "ipv6", text: string) =>
        JSON.parse(await frr.vtysh(`show bgp ${family} unicast ${text} json`)) as FrrPrefix
      const v4 = await eventually("FRR has the IPv4 route", async () => {
        const found = await prefix("ipv4", "198.51.100.30/32")
        return (found.paths?.length ?? 0) > 0 ? found : undefined
      }, { timeoutMs: 15_000, intervalMs: 200 })
      // RFC 8950: an IPv4 route whose next hop is our IPv6 link-local address.
      expect(v4.paths?.[0]?.nexthops?.map((h) => h.ip)).toContain(nodeLinkLocal)
      expect(v4.paths?.[0]?.nexthops?.find((h) => h.ip === nodeLinkLocal)).toMatchObject({ afi: "ipv6" })
      const v6 = await prefix("ipv6", "2001:db8:ff::30/128")
      expect(v6.paths?.[0]?.nexthops?.map((h) => h.ip)).toContain(nodeLinkLocal)

      // Installed by zebra in the router's kernel: IPv4 through an IPv6 gateway on the interface.
      const kernelV4 = await eventually("the IPv4 route in the router's kernel", async () => {
        const { stdout } = await router.run("ip", ["-4", "route", "show", "198.51.100.30/32"])
        return stdout.includes("via inet6") ? stdout.trim() : undefined
      }, { timeoutMs: 15_000, intervalMs: 200 })
      expect(kernelV4).toContain(`via inet6 ${nodeLinkLocal} dev ${routerInterface}`)
      const kernelV6 = await eventually("the IPv6 route in the router's kernel", async () => {
        const { stdout } = await router.run("ip", ["-6", "route", "show", "2001:db8:ff::30/128"])
        return stdout.includes("via") ? stdout.trim() : undefined
      }, { timeoutMs: 15_000, intervalMs: 200 })
      expect(kernelV6).toContain(`via ${nodeLinkLocal} dev ${routerInterface}`)
      console.log(`unnumbered: neighbour ${routerLinkLocal} from its RA; FRR installed ${kernelV4} and ${kernelV6}`)

      // A withdrawal removes the IPv4 route from FRR (Withdrawn Routes in the body).
      session.setRoutes([route("2001:db8:ff::30/128")])
      await eventually("FRR drops the withdrawn IPv4 route", async () => {
        const found = await prefix("ipv4", "198.51.100.30/32")
        return (found.paths?.length ?? 0) === 0 ? true : undefined
      }, { timeoutMs: 15_000, intervalMs: 200 })
    } catch (error) {
      console.log(`speaker log:\n${logs.join("\n")}\nFRR output:\n${frr.output().slice(-4000)}`)
      throw error
    } finally {
      await session.stop()
    }
  }, 120_000)

  it("runs single-hop BFD with FRR's bfdd between the link-local addresses; a cut link takes BGP down within the detection time", async () => {
    const { lab, node, nodeInterface, routerInterface, router, frr: started } = await unnumberedLab("unnumbfd", { bfd: true })
    await using _ = lab
    await using frr = started
    const nodeLinkLocal = await linkLocalOf(node, nodeInterface)
    const bfd = openBfdEndpoint(addons.udp, { fibers, netnsPath: node.netnsPath })
    const down: { atMs?: number; reason?: CloseReason } = {}
    const session = await PeerSession.open({
      fibers,
      peer: unnumberedPeer(nodeInterface, { holdTimeSeconds: 90, keepaliveTimeSeconds: 30, bfdProfile: "fast" }),
      bfdProfile,
      bfd,
      tcp: addons.tcp,
      packet: addons.packet,
      netnsPath: node.netnsPath,
      routerId: address("192.0.2.10"),
      backoff: testBackoff,
      events: { onSessionDown: (reason) => { down.atMs ??= performance.now(); down.reason ??= reason } },
    })
    try {
      session.start()
      await waitSessionState(session, "Established", 45_000)
      const frrSide = await waitBfdUp(frr, nodeLinkLocal, 30_000)
      await eventually("our BFD session Up", async () => (session.bfd?.state === "Up" ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 })
      expect(frrSide.details).toMatchObject({ multihop: false, peer: nodeLinkLocal })
      const cutMs = performance.now()
      await router.run("ip", ["link", "set", routerInterface, "down"])
      await eventually("the speaker's BGP session down", async () => (down.atMs === undefined ? undefined : true), { timeoutMs: 5_000, intervalMs: 10 })
      const detectionMs = Math.round((down.atMs ?? Number.NaN) - cutMs)
      console.log(`unnumbered BFD with FRR: link cut -> BGP session down after ${detectionMs} ms (3 x 300 ms)`)
      expect(down.reason).toEqual({ _tag: "BfdDown" })
      expect(detectionMs).toBeLessThanOrEqual(3 * 300 + 300)
    } finally {
      await session.stop()
      await bfd.close()
    }
  }, 120_000)
})
