// The lab with an unnumbered BGP peer (issue 16): the real speaker process on the first node peers with a
// second FRR router ("tor-ll") over a veth that has IPv6 link-local addresses only, configured the
// way a MetalLB user would (a BGPPeer with spec.interface and no peerAddress, with a BFD profile), FRR with `neighbor <if> interface remote-as external`, as MetalLB's FRR mode
// writes it. A Service from the BGP pool is announced over that session: FRR learns the IPv4 route
// with our link-local address as its next hop (RFC 8950) and bfdd runs a session between the two
// link-local addresses. The speaker publishes each session's state (BGPSessionState): Established with
// BFD up, then, once tor-ll shuts the session, not Established, which explain reports as "session down".
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createService, type E2eLab, labConfigYaml, labSkipReason, metallbNamespace, plan, startE2eLab, until, waitForIngress } from "../support/lab.ts"
import { run } from "../support/netns.ts"
import { type FrrRouter, startFrr } from "../support/routers/index.ts"
import { skipUnlessCi } from "../support/skip.ts"

const torAsn = 64601

// Selected by the node's hostname label, as an interface peer usually is (the interface is per node).
const unnumberedPeerYaml = (interfaceName: string, nodeName: string) => `
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: { name: tor-ll, namespace: ${metallbNamespace} }
spec:
  myASN: ${plan.nodeAsn}
  peerASN: ${torAsn}
  interface: ${interfaceName}
  holdTime: 9s
  keepaliveTime: 3s
  connectTime: 2s
  bfdProfile: fast
  nodeSelectors:
    - matchLabels: { kubernetes.io/hostname: ${nodeName} }
`

describe.skipIf(skipUnlessCi(labSkipReason()))("lab: an unnumbered BGP peer (link-local only) beside the numbered one", () => {
  let lab: E2eLab
  let tor: FrrRouter
  let nodeInterface = ""
  let torInterface = ""

  beforeAll(async () => {
    lab = await startE2eLab({ label: "unnum", nodes: 1, log: (line) => console.log(`[lab] ${line}`) })
    const node = lab.nodes[0]
    if (node === undefined) throw new Error("the lab has no node")
    const host = await lab.lab.host("torll")
    // No addresses: each end has only the link-local address the kernel gives it.
    const link = await lab.lab.link(node.host, host, { aName: "ll0", bName: "ll0" })
    nodeInterface = link.aName
    torInterface = link.bName
    tor = await startFrr(host, { routerId: "198.51.100.77", asn: torAsn, neighbors: [], installRoutes: true })
    const { stderr } = await run("vtysh", [
      "--vty_socket", tor.dir, "-d", "bgpd",
      "-c", "configure terminal",
      "-c", `router bgp ${torAsn}`,
      "-c", `neighbor ${torInterface} interface remote-as external`,
      "-c", `neighbor ${torInterface} timers connect 2`,
      "-c", `neighbor ${torInterface} bfd`,
      "-c", "address-family ipv4 unicast",
      "-c", `neighbor ${torInterface} activate`,
    ])
    if (stderr !== "") throw new Error(`FRR refused the interface peer's configuration: ${stderr}`)
    lab.apply(`${labConfigYaml()}\n---${unnumberedPeerYaml(nodeInterface, node.name)}`)
  }, 240_000)

  afterAll(async () => {
    if (lab !== undefined) for (const node of lab.nodes) console.log(`--- speaker ${node.name} (BGP, BFD, warnings) ---\n${(lab.speaker(node)?.output() ?? "(not running)").split("\n").filter((l) => /tor-ll|bgp |bfd |WARN|ERROR/.test(l)).slice(-40).join("\n")}`)
    await tor?.[Symbol.asyncDispose]()
    await lab?.close()
  }, 60_000)

  it("announces a BGP Service to the unnumbered peer over link-local addresses, with BFD between them", async () => {
    const node = lab.nodes[0]!
    const nodeLinkLocal = await until(`${node.name}'s link-local address`, async () => {
      const { stdout } = await node.host.run("ip", ["-j", "-6", "address", "show", "dev", nodeInterface, "scope", "link"])
      const parsed = JSON.parse(stdout) as Array<{ addr_info?: Array<{ local?: string }> }>
      return parsed[0]?.addr_info?.[0]?.local
    }, { timeoutMs: 20_000 })
    await createService(lab.api, { name: "bgp-ll", pool: "bgp", families: "IPv4", endpointNodes: lab.nodes })
    const [address = ""] = await waitForIngress(lab.api, "bgp-ll", 1)
    const session = await until("FRR's interface peer Established", async () => {
      const peers = JSON.parse(await tor.vtysh("show bgp neighbors json")) as Record<string, { bgpState?: string; hostname?: string; bgpNeighborAddr?: string }>
      const peer = Object.values(peers).find((p) => p.bgpState === "Established")
      return peer
    }, { timeoutMs: 60_000 })
    expect(session.bgpState).toBe("Established")
    const route = await until(`the route for ${address}/32 at tor-ll`, async () => {
      const json = JSON.parse(await tor.vtysh(`show bgp ipv4 unicast ${address}/32 json`)) as { paths?: Array<{ nexthops?: Array<{ ip?: string; afi?: string }> }> }
      return json.paths?.[0]
    }, { timeoutMs: 30_000 })
    // RFC 8950: the IPv4 route's next hop is the node's IPv6 link-local address.
    expect(route.nexthops?.find((h) => h.ip === nodeLinkLocal)).toMatchObject({ afi: "ipv6" })
    const bfd = await until(`bfdd's session with ${node.name} Up`, async () =>
      (await tor.bfdSessions()).find((s) => s.state === "Up"), { timeoutMs: 30_000 })
    expect(bfd.peer).toBe(nodeLinkLocal)
    // The numbered router has the Service's path from the same speaker at the same time.
    await until("the numbered router's paths for the Service", async () => {
      const json = JSON.parse(await lab.router.vtysh(`show bgp ipv4 unicast ${address}/32 json`)) as { paths?: Array<unknown> }
      return (json.paths?.length ?? 0) === lab.nodes.length ? true : undefined
    }, { timeoutMs: 30_000 })
    console.log(`[lab] unnumbered: ${address}/32 at tor-ll via ${nodeLinkLocal} on ${torInterface}, BFD Up between the link-locals; the numbered router has ${lab.nodes.length} paths`)
  }, 180_000)

  it("publishes each session's state as a BGPSessionState (Established, BFD up), and explain says 'session down' once tor-ll shuts the session", async () => {
    const node = lab.nodes[0]!
    type Listed = { items: Array<{ metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; status?: Record<string, string> }> }
    const tll = async () => (JSON.parse(lab.kubectl(["get", "bgpsessionstates", "-n", metallbNamespace, "-o", "json"])) as Listed).items
      .find((o) => o.metadata.labels?.["metallb-ts.io/bgppeer"] === "tor-ll")
    const up = await until("the speaker's BGPSessionState for tor-ll Established with BFD up", async () => {
      const o = await tll()
      return o?.status?.["bgpStatus"] === "Established" && o.status["bfdStatus"] === "up" ? o : undefined
    }, { timeoutMs: 30_000 })
    expect(up.status).toEqual({ bgpStatus: "Established", bfdStatus: "up", node: node.name, peer: nodeInterface, vrf: "" })
    expect(up.metadata.labels).toMatchObject({ "frrk8s.metallb.io/node": node.name, "frrk8s.metallb.io/peer": nodeInterface, "frrk8s.metallb.io/vrf": "" })
    const all = (JSON.parse(lab.kubectl(["get", "bgpsessionstates", "-n", metallbNamespace, "-o", "json"])) as Listed).items
    expect(all.map((o) => o.status?.["bgpStatus"])).toEqual(all.map(() => "Established"))
    const { stderr } = await run("vtysh", ["--vty_socket", tor.dir, "-d", "bgpd", "-c", "configure terminal", "-c", `router bgp ${torAsn}`, "-c", `neighbor ${torInterface} shutdown`])
    if (stderr !== "") throw new Error(`FRR refused the shutdown: ${stderr}`)
    const down = await until("the BGPSessionState for tor-ll no longer Established", async () => {
      const o = await tll()
      return o?.status?.["bgpStatus"] !== undefined && o.status["bgpStatus"] !== "Established" ? o : undefined
    }, { timeoutMs: 30_000 })
    const since = down.metadata.annotations?.["metallb-ts.io/bgp-status-since"] ?? ""
    expect(Date.parse(since)).toBeGreaterThan(Date.parse(up.metadata.annotations?.["metallb-ts.io/bgp-status-since"] ?? ""))
    const cli = new URL("../../shell/main/cli.ts", import.meta.url).pathname
    const { stdout } = await run(process.execPath, [cli, "explain", "--kubeconfig", lab.kubeconfigPath, "-n", "default", "bgp-ll"], { timeoutMs: 90_000 })
    console.log(`[lab] explain after tor-ll's shutdown:\n${stdout}`)
    // The speaker keeps dialling (Connect, OpenSent, Active ...): the state and its since move on; BFD stays up.
    expect(stdout).toMatch(/\n {4}session with tor-ll: session down: (Idle|Connect|Active|OpenSent|OpenConfirm) since \d{4}-\d\d-\d\dT[\d:.]+Z, BFD up\n/)
    expect(stdout).toMatch(/\n {4}session with router: Established since \d{4}-\d\d-\d\dT[\d:.]+Z, BFD up\n/)
  }, 120_000)
})
