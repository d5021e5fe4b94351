// The whole system in the end-to-end lab (spec/support/lab.ts): the real API server with the
// manifests' CRDs and RBAC, the real controller, one real speaker per node namespace, an FRR router
// and a client. Layer 2: an address in status, the client's HTTP over ARP and NDP, arping/ndisc6
// answered by the owner only, failover after SIGKILL measured from the owner's death to the new
// owner's gratuitous ARP / unsolicited NA and to the client's first answer, and a graceful SIGTERM
// hand-over that loses no ping. BGP: ECMP paths from every eligible node, the client through the
// router, a stopped node withdrawn by BFD within a second. A configuration edit that keeps the
// addresses valid moves nothing; a controller restart changes nothing. The figures are printed.
import { CoreV1Api, CustomObjectsApi, EventsV1Api } from "@kubernetes/client-node"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { formatAddress } from "../../core/net/address.ts"
import {
  type CapturedFrame,
  createService,
  type E2eLab,
  httpGet,
  labConfigYaml,
  type LabNode,
  labSkipReason,
  metallbNamespace,
  plan,
  type ProbeResult,
  startCapture,
  startE2eLab,
  until,
  urlOf,
  waitForIngress,
} from "../support/lab.ts"
import { arpingReplies, crashOwner, handOverOwner, neighbourMac, nodeNamed as nodeNamedIn, restoreNode, settledOwner as settledOwnerIn } from "../support/failover.ts"
import { sleep } from "../support/netns.ts"
import { skipUnlessCi } from "../support/skip.ts"

// Targets (issue 6 and 10).
const deathToAnnouncementTargetMs = 1_000
const outageTargetMs = 1_500
const bfdWithdrawalTargetMs = 1_000

const figures: Array<string> = []
const figure = (line: string) => {
  figures.push(line)
  console.log(`[lab] ${line}`)
}

/** Any ARP/NA frame claiming `address` (answers and announcements), with the claiming MAC. */
const claimsOf = (frames: ReadonlyArray<CapturedFrame>, address: string): ReadonlyArray<string> =>
  frames.flatMap((f) => {
    if (f.frame._tag === "ArpFrame" && formatAddress(f.frame.arp.senderIp) === address) return [f.frame.ethernet.src]
    if (f.frame._tag === "NdpFrame" && f.frame.ndp._tag === "NeighborAdvertisement" && formatAddress(f.frame.ndp.target) === address) return [f.frame.ethernet.src]
    return []
  })

/** Whether `mac` answered the client's own ARP requests for `address` (a reply to the client, not an announcement). */
const answersClient = (frames: ReadonlyArray<CapturedFrame>, address: string, mac: string) =>
  frames.some((f) => f.frame._tag === "ArpFrame" && f.frame.arp.operation === "reply" && f.frame.ethernet.src === mac &&
    formatAddress(f.frame.arp.senderIp) === address && formatAddress(f.frame.arp.targetIp) === plan.client4)

const summary = (results: ReadonlyArray<ProbeResult>) => `${results.filter((r) => r.ok).length}/${results.length} ok`

// One retry per test: the BGP/BFD waits timed out once on a saturated machine (load 20+ on 2 cores), and
// under load the fast membership profile can declare the owner dead for ~100 ms: another node claims for
// that moment and the client's neighbour cache stays on it, since the owner does not announce again (it
// never saw a change). A failure that repeats still fails the run.
describe.skipIf(skipUnlessCi(labSkipReason()))("end-to-end lab: real API server, controller, speakers, FRR router and client", { retry: 1 }, () => {
  let lab: E2eLab
  let web4: string
  let web6: string
  /** An ETP Local Layer 2 address whose only endpoint is on node-3: only node-3 may announce it. */
  let l2Local: string
  const nodeNamed = (name: string | undefined): LabNode => nodeNamedIn(lab, name)
  const core = () => lab.api.kubeConfig.makeApiClient(CoreV1Api)
  /** The node whose backend answered the client (the owner for a Layer 2 address). */
  /** The speakers' status objects of one kind for a Service in the default namespace. */
  const statusObjects = async (plural: "servicel2statuses" | "servicebgpstatuses", service: string) => {
    const list = (await lab.api.kubeConfig.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
      group: "metallb.io", version: "v1beta1", namespace: "metallb-system", plural,
      labelSelector: `metallb.io/service-name=${service},metallb.io/service-namespace=default`,
    })) as { items: Array<{ metadata?: { ownerReferences?: Array<{ kind?: string; name?: string; uid?: string }> }; status?: { node?: string; interfaces?: Array<{ name: string }>; peers?: Array<string> } }> }
    return list.items
  }

  const ownerOf = async (address: string): Promise<LabNode> =>
    nodeNamed(await until(`an answer from ${address}`, () => httpGet(lab.client, urlOf(address), 1_000), { timeoutMs: 15_000, intervalMs: 100 }))
  const settledOwner = (address: string): Promise<LabNode> => settledOwnerIn(lab, address)
  const restore = (node: LabNode) => restoreNode(lab, node)
  const resourceVersions = async (names: ReadonlyArray<string>) =>
    Promise.all(names.map(async (name) => {
      const s = await core().readNamespacedService({ name, namespace: "default" })
      return { name, resourceVersion: s.metadata?.resourceVersion, ingress: s.status?.loadBalancer?.ingress?.map((i) => i.ip) }
    }))
  /** Whether `node` answers the client's ARP requests for `address` (captured, so announcements do not count). */
  const answersArp = async (node: LabNode, address: string) => {
    const capture = await startCapture(lab.client, "eth0", lab.dir)
    await arpingReplies(lab.client, address)
    return answersClient(await capture.stop(), address, node.mac) ? true : undefined
  }
  const routerPaths = async (prefix: string) =>
    (await lab.router.routes()).filter((r) => r.prefix === prefix).map((r) => r.neighbor).sort()

  beforeAll(async () => {
    const started = performance.now()
    lab = await startE2eLab({ label: "e2e", nodes: 3, handOverMs: 1_000, log: (line) => console.log(`[lab] ${line}`) })
    lab.apply(labConfigYaml())
    await createService(lab.api, { name: "web", pool: "l2", families: "dual", endpointNodes: lab.nodes })
    const ips = await waitForIngress(lab.api, "web", 2)
    web4 = ips.find((ip) => !ip.includes(":")) ?? ""
    web6 = ips.find((ip) => ip.includes(":")) ?? ""
    await createService(lab.api, { name: "l2-local", pool: "l2", families: "IPv4", externalTrafficPolicy: "Local", endpointNodes: [lab.nodes[2]!] })
    l2Local = (await waitForIngress(lab.api, "l2-local", 1))[0] ?? ""
    figure(`lab up (API server, controller, 3 speakers, FRR) and the first Services addressed in ${Math.round(performance.now() - started)} ms`)
  }, 180_000)

  beforeEach((context) => {
    // A failure comes with what the processes said.
    context.onTestFailed(() => {
      for (const node of lab?.nodes ?? []) console.log(`--- speaker ${node.name} ---\n${lab.speaker(node)?.output().slice(-4_000) ?? "(not running)"}`)
      console.log(`--- controller ---\n${lab?.controllerOutput().slice(-3_000)}`)
    })
  })

  afterAll(async () => {
    if (figures.length > 0) console.log(`\n[lab] figures:\n${figures.map((f) => `  ${f}`).join("\n")}\n`)
    await lab?.close()
  }, 60_000)

  describe("Layer 2", () => {
    it("gives the Service addresses from the pool, and the client reaches them over ARP and NDP; the owner reports nodeAssigned", async () => {
      expect(web4).toBe("198.51.100.200")
      expect(web6).toBe("2001:db8:100::200")
      const owner4 = await ownerOf(web4)
      const owner6 = await ownerOf(web6)
      // One owner per Service: the election orders nodes by the Service's first address.
      expect(owner6.name).toBe(owner4.name)
      expect(await neighbourMac(lab.client, web4)).toBe(owner4.mac)
      expect(await neighbourMac(lab.client, web6)).toBe(owner4.mac)
      const events = lab.api.kubeConfig.makeApiClient(EventsV1Api)
      const assigned = await until("the owner's nodeAssigned event", async () =>
        (await events.listNamespacedEvent({ namespace: "default" })).items.find((e) =>
          e.reason === "nodeAssigned" && e.regarding?.name === "web" && e.reportingInstance === owner4.name), { timeoutMs: 10_000 })
      expect(assigned.note).toContain(`"${owner4.name}"`)
      // The owner, and only the owner, keeps a ServiceL2Status for the Service, naming its interface.
      const l2Objects = await until("the owner's ServiceL2Status", async () => {
        const objects = await statusObjects("servicel2statuses", "web")
        return objects.length === 1 && objects[0]?.status?.node === owner4.name ? objects : undefined
      }, { timeoutMs: 15_000 })
      expect(l2Objects[0]?.status?.interfaces?.length).toBeGreaterThan(0)
      // Owned by the speaker's Pod, so the garbage collector removes what a dead speaker left.
      const pod = lab.speakerPod(owner4)
      expect(l2Objects[0]?.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: "Pod", name: pod.name, uid: pod.uid })])
      // The owner's speaker exports MetalLB's metrics for it, over HTTPS to a metrics reader's token only.
      const metrics = await until("the owner's metrics", async () => {
        const text = await lab.scrapeSpeaker(owner4)
        return text?.includes(`ip="${web4}"`) ? text : undefined
      }, { timeoutMs: 15_000 })
      expect(await httpGet(owner4.host, "https://127.0.0.1:9120/metrics")).toBeUndefined()
      expect(await httpGet(owner4.host, "http://127.0.0.1:9120/metrics")).toBeUndefined()
      expect(metrics).toContain(`metallb_speaker_announced{ip="${web4}",node="${owner4.name}",protocol="layer2",service="default/web"} 1`)
      expect(metrics).toMatch(new RegExp(`metallb_layer2_gratuitous_sent\\{ip="${web4.replace(/\./g, "\\.")}"\\} [1-9]`))
      // externalTrafficPolicy Local: only the node with the endpoint announces.
      const local = lab.nodes[2]!
      expect(l2Local).toBe("198.51.100.201")
      expect(await until("node-3 to answer for l2-local", () => answersArp(local, l2Local), { timeoutMs: 10_000 })).toBe(true)
      const localReplies = await arpingReplies(lab.client, l2Local)
      expect(localReplies.length).toBeGreaterThan(0)
      expect(new Set(localReplies)).toEqual(new Set([local.mac]))
      expect(await httpGet(lab.client, urlOf(l2Local))).toBe(local.name)
    })

    it("answers arping with the owner's MAC for an owned address and not at all for an unowned one; ndisc6 gets the owner's NA", async () => {
      const owner = await settledOwner(web4)
      // Every reply (arping also counts the owner's announcements) comes from the owner.
      const replies = await arpingReplies(lab.client, web4)
      expect(replies.length).toBeGreaterThan(0)
      expect(new Set(replies)).toEqual(new Set([owner.mac]))
      // In the pool, but no Service has it: nobody answers.
      expect(await arpingReplies(lab.client, "198.51.100.215")).toEqual([])
      const ndisc = await lab.client.run("ndisc6", ["-1", "-r", "3", "-w", "500", web6, "eth0"], { timeoutMs: 10_000 })
      expect(ndisc.stdout.toLowerCase()).toContain(owner.mac)
      const unowned6 = await lab.client.run("ndisc6", ["-1", "-r", "2", "-w", "300", "2001:db8:100::20f", "eth0"], { timeoutMs: 10_000 }).then((r) => r.stdout, (e: unknown) => String(e))
      expect(unowned6.toLowerCase()).not.toMatch(/link-layer address/)
    })

    it("fails over when the owner dies (SIGKILL): the new owner announces within 1 s and the client recovers within 1.5 s, IPv4 and IPv6", async () => {
      const { owner, successor, garpMs, naMs, v4, v6, results } = await crashOwner(lab, web4, web6)
      expect(successor.name).not.toBe(owner.name)
      expect(v6.firstNew?.body).toBe(successor.name)
      figure(`L2 failover (SIGKILL ${owner.name} -> ${successor.name}): death -> gratuitous ARP ${garpMs} ms, -> unsolicited NA ${naMs} ms (target <= ${deathToAnnouncementTargetMs})`)
      figure(`L2 failover client: IPv4 first answer from the new owner after ${v4.recoveryMs} ms (gap ${v4.gapMs} ms, ${v4.failures} failed requests), IPv6 after ${v6.recoveryMs} ms (gap ${v6.gapMs} ms, ${v6.failures} failed); probes ${summary(results)} (target <= ${outageTargetMs})`)
      expect(garpMs).toBeDefined()
      expect(garpMs!).toBeLessThanOrEqual(deathToAnnouncementTargetMs)
      expect(naMs).toBeDefined()
      expect(naMs!).toBeLessThanOrEqual(deathToAnnouncementTargetMs)
      expect(v4.recoveryMs!).toBeLessThanOrEqual(outageTargetMs)
      expect(v6.recoveryMs!).toBeLessThanOrEqual(outageTargetMs)
      expect(await neighbourMac(lab.client, web4)).toBe(successor.mac)
      // The successor timed it too (our own metrics): the dead speaker's last datagram -> its declaration
      // dead, and -> the successor's announcement of the Service it took over.
      const series = (text: string | undefined, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text ?? "")?.[1] ?? Number.NaN)
      const own = await until("the successor's takeover timing", async () => {
        const text = await lab.scrapeSpeaker(successor)
        return series(text, "metallb_ts_speaker_l2_takeover_seconds_count") >= 1 ? text : undefined
      }, { timeoutMs: 10_000 })
      const takeovers = series(own, "metallb_ts_speaker_l2_takeover_seconds_count")
      const takeoverMs = (series(own, "metallb_ts_speaker_l2_takeover_seconds_sum") / takeovers) * 1000
      const detectionMs = (series(own, "metallb_ts_speaker_member_detection_seconds_sum") / series(own, "metallb_ts_speaker_member_detection_seconds_count")) * 1000
      figure(`L2 failover as the successor measured it: member declared dead ${detectionMs.toFixed(0)} ms, takeover announced ${takeoverMs.toFixed(0)} ms after the dead speaker's last datagram (mean of ${takeovers})`)
      expect(takeoverMs).toBeGreaterThanOrEqual(detectionMs)
      expect(takeoverMs).toBeLessThanOrEqual(deathToAnnouncementTargetMs)
      await restore(owner)
    }, 60_000)

    it("hands over gracefully on SIGTERM: the client's cache moves before the old node goes away, and no ping is lost", async () => {
      const { owner, exitedAfterMs, mac4, mac6, ping4: c4, ping6: c6 } = await handOverOwner(lab, web4, web6)
      figure(`L2 graceful hand-over (SIGTERM ${owner.name}, exited after ${exitedAfterMs} ms, node down after): IPv4 ${c4.sent - c4.received}/${c4.sent} pings lost, IPv6 ${c6.sent - c6.received}/${c6.sent} lost (target 0)`)
      expect(mac4).not.toBe(owner.mac)
      expect(mac6).not.toBe(owner.mac)
      expect(lab.nodes.map((n) => n.mac)).toContain(mac4)
      expect(c4.sent).toBe(80)
      expect(c4.received).toBe(c4.sent)
      expect(c6.sent).toBe(80)
      expect(c6.received).toBe(c6.sent)
      await restore(owner)
    }, 60_000)
  })

  describe("BGP", () => {
    let bgpWeb = ""

    it("learns the address from every eligible node (ECMP), and the client reaches it through the router", async () => {
      await createService(lab.api, { name: "bgp-web", pool: "bgp", families: "IPv4", endpointNodes: lab.nodes })
      // externalTrafficPolicy Local: only nodes with a serving endpoint are eligible.
      await createService(lab.api, { name: "bgp-local", pool: "bgp", families: "IPv4", externalTrafficPolicy: "Local", endpointNodes: lab.nodes.slice(0, 2) })
      const [address = ""] = await waitForIngress(lab.api, "bgp-web", 1)
      const [local = ""] = await waitForIngress(lab.api, "bgp-local", 1)
      bgpWeb = address
      // The two Services are created together: which one the controller serves first is not fixed.
      expect([address, local].sort()).toEqual(["192.0.2.0", "192.0.2.1"])
      const all = lab.nodes.map((n) => n.lan4).sort()
      await until("paths for bgp-web from every node", async () => ((await routerPaths(`${address}/32`)).join() === all.join() ? true : undefined), { timeoutMs: 30_000 })
      await until("paths for bgp-local from the endpoint nodes", async () =>
        ((await routerPaths(`${local}/32`)).join() === all.slice(0, 2).join() ? true : undefined), { timeoutMs: 30_000 })
      const kernel = JSON.parse((await lab.router.host.run("ip", ["-j", "route", "show", `${address}/32`])).stdout) as Array<{ nexthops?: Array<{ gateway: string }> }>
      expect(kernel[0]?.nexthops?.map((h) => h.gateway).sort()).toEqual(all)
      const answers: Array<string | undefined> = []
      for (let i = 0; i < 12; i++) answers.push(await httpGet(lab.client, urlOf(address)))
      expect(answers.every((a) => a !== undefined && lab.nodes.some((n) => n.name === a))).toBe(true)
      // The router hashes connections over the three paths.
      expect(new Set(answers).size).toBeGreaterThanOrEqual(2)
      const localAnswers = new Set<string | undefined>()
      for (let i = 0; i < 8; i++) localAnswers.add(await httpGet(lab.client, urlOf(local)))
      expect([...localAnswers].every((a) => a === "node-1" || a === "node-2")).toBe(true)
      figure(`BGP: bgp-web learned from ${lab.nodes.length} nodes (ECMP in the router's kernel), client answers ${[...new Set(answers)].sort().join(", ")}; ETP Local bgp-local from node-1, node-2 only`)
      // Each node keeps a ServiceBGPStatus per service it advertises, naming the peers.
      const bgpStatusNodes = (service: string) => until(`ServiceBGPStatus objects for ${service}`, async () => {
        const nodes = (await statusObjects("servicebgpstatuses", service)).filter((o) => (o.status?.peers ?? []).length > 0).map((o) => o.status?.node).sort()
        return nodes.length > 0 ? nodes : undefined
      }, { timeoutMs: 15_000 })
      expect(await bgpStatusNodes("bgp-web")).toEqual(lab.nodes.map((n) => n.name).sort())
      expect(await bgpStatusNodes("bgp-local")).toEqual(["node-1", "node-2"])
      // MetalLB's BGP and BFD series (its FRR mode's included), per peer address: node-1 advertises both.
      const peer = `peer="${plan.router4}"`
      const metrics = await until("node-1's BGP and BFD series", async () => {
        const text = await lab.scrapeSpeaker(lab.nodes[0]!)
        return text?.includes(`metallb_bfd_session_up{${peer}} 1`) && text.includes(`metallb_bgp_announced_prefixes_total{${peer}} 2`) ? text : undefined
      }, { timeoutMs: 15_000 })
      const value = (name: string) => Number(new RegExp(`^${name}\\{${peer}\\} (\\S+)$`, "m").exec(metrics)?.[1] ?? Number.NaN)
      expect(value("metallb_bgp_session_up")).toBe(1)
      expect(value("metallb_bgp_pending_prefixes_total")).toBe(0)
      expect(value("metallb_bgp_opens_sent")).toBeGreaterThanOrEqual(1)
      expect(value("metallb_bgp_opens_received")).toBeGreaterThanOrEqual(1)
      expect(value("metallb_bgp_updates_total")).toBeGreaterThanOrEqual(1)
      expect(value("metallb_bgp_keepalives_received")).toBeGreaterThanOrEqual(1)
      expect(value("metallb_bgp_total_sent")).toBeGreaterThanOrEqual(value("metallb_bgp_opens_sent") + value("metallb_bgp_updates_total") + value("metallb_bgp_keepalives_sent"))
      expect(value("metallb_bfd_control_packet_input")).toBeGreaterThan(0)
      expect(value("metallb_bfd_control_packet_output")).toBeGreaterThan(0)
      expect(value("metallb_bfd_session_up_events")).toBeGreaterThanOrEqual(1)
      expect(metrics).toMatch(/^metallb_k8s_client_config_loaded_bool 1$/m)
      expect(metrics).toMatch(/^metallb_k8s_client_config_stale_bool 0$/m)
      expect(Number(/^metallb_k8s_client_updates_total (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0)
    }, 60_000)

    it("withdraws a stopped node's route within 1 s (BFD) and a killed speaker's at once (TCP closed); the stopped node serves again when back, the restarted speaker claims nothing it does not own", async () => {
      const prefix = `${bgpWeb}/32`
      const all = lab.nodes.map((n) => n.lan4).sort()
      await until("BFD Up with every node", async () =>
        ((await lab.router.bfdSessions()).filter((s) => s.state === "Up").length === lab.nodes.length ? true : undefined), { timeoutMs: 30_000 })
      expect(await routerPaths(prefix)).toEqual(all)
      // node-3 is the only one that may announce l2-local; its announcements for it ended long ago.
      const stopped = lab.nodes[2]!
      const wentDarkAtMs = Date.now()
      await lab.setNodeLink(stopped, false)
      await until(`${stopped.name}'s path withdrawn`, async () => ((await routerPaths(prefix)).includes(stopped.lan4) ? undefined : true), { timeoutMs: 10_000, intervalMs: 20 })
      const withdrawnMs = Date.now() - wentDarkAtMs
      const bfd = (await lab.router.bfdSessions()).find((s) => s.peer === stopped.lan4)
      const answer = await httpGet(lab.client, urlOf(bgpWeb))
      figure(`BGP: ${stopped.name} went dark -> its path withdrawn by the router after ${withdrawnMs} ms (BFD 3 x 100 ms; target <= ${bfdWithdrawalTargetMs})`)
      expect(bfd?.state).toBe("Down")
      expect(withdrawnMs).toBeLessThanOrEqual(bfdWithdrawalTargetMs)
      expect(answer === "node-1" || answer === "node-2").toBe(true)

      await lab.setNodeLink(stopped, true)
      await lab.waitSpeakersReady()
      await until(`${stopped.name}'s path back`, async () => ((await routerPaths(prefix)).join() === all.join() ? true : undefined), { timeoutMs: 30_000 })
      // Its speaker lived through the link going away and coming back: it answers ARP again (without
      // a frame of its own sent after the link came back, which used to be the only thing that revived
      // its receiving socket).
      expect(await until("the stopped node to answer for l2-local again", () => answersArp(stopped, l2Local), { timeoutMs: 15_000 })).toBe(true)
      expect(await httpGet(lab.client, urlOf(l2Local))).toBe(stopped.name)

      const webOwner = await settledOwner(web4)
      // The node the client reaches is the elected one (the only ServiceL2Status for web): a neighbour
      // cache moved by someone else's gratuitous ARP would make the checks below about the wrong node.
      await until(`web's ServiceL2Status on ${webOwner.name} only`, async () => {
        const nodes = (await statusObjects("servicel2statuses", "web")).map((o) => o.status?.node)
        return nodes.length === 1 && nodes[0] === webOwner.name ? true : undefined
      }, { timeoutMs: 15_000 })
      const killed = lab.nodes.find((n) => n !== webOwner && n !== stopped)!
      const death = await lab.stopSpeaker(killed, "SIGKILL")
      await until(`${killed.name}'s path withdrawn`, async () => ((await routerPaths(prefix)).includes(killed.lan4) ? undefined : true), { timeoutMs: 10_000, intervalMs: 20 })
      const killWithdrawnMs = Date.now() - death.signalledAtMs
      figure(`BGP: ${killed.name}'s speaker SIGKILLed -> its path withdrawn after ${killWithdrawnMs} ms`)
      expect(killWithdrawnMs).toBeLessThanOrEqual(bfdWithdrawalTargetMs)
      // A restarting speaker learns the members before it decides: it never claims web, even for a moment.
      const capture = await startCapture(lab.client, "eth0", lab.dir)
      await restore(killed)
      await sleep(500)
      const frames = await capture.stop()
      expect(claimsOf(frames, web4).filter((mac) => mac === killed.mac)).toEqual([])
      expect((await settledOwner(web4)).name).toBe(webOwner.name)
      await until(`${killed.name}'s path back`, async () => ((await routerPaths(prefix)).join() === all.join() ? true : undefined), { timeoutMs: 30_000 })
    }, 90_000)
  })

  describe("stability", () => {
    const services = ["web", "l2-local", "bgp-web", "bgp-local"]

    it("moves nothing when a configuration edit keeps every address valid", async () => {
      const owner = await settledOwner(web4)
      const before = await resourceVersions(services)
      const pathsBefore = { web: await routerPaths("192.0.2.0/32"), local: await routerPaths("192.0.2.1/32") }
      const capture = await startCapture(lab.client, "eth0", lab.dir)
      lab.apply(labConfigYaml()
        .replace(`addresses: [${plan.l2Pool4}, ${plan.l2Pool6}]`, `addresses: [${plan.l2Pool4}, 198.51.100.216-198.51.100.219, ${plan.l2Pool6}]`)
        .replace(`addresses: [${plan.bgpPool4}]`, `addresses: [${plan.bgpPool4}, 192.0.2.16/28]`))
      const custom = lab.api.kubeConfig.makeApiClient(CustomObjectsApi)
      await until("the controller to count the grown pools", async () => {
        const pool = (await custom.getNamespacedCustomObject({ group: "metallb.io", version: "v1beta1", namespace: metallbNamespace, plural: "ipaddresspools", name: "bgp" })) as { status?: { availableIPv4?: number } }
        return pool.status?.availableIPv4 === 30 ? true : undefined
      }, { timeoutMs: 20_000 })
      // Give the speakers time to act on the edit too.
      await sleep(2_000)
      const frames = await capture.stop()
      const after = await resourceVersions(services)
      expect(after).toEqual(before)
      expect((await settledOwner(web4)).name).toBe(owner.name)
      // Nobody else claims the addresses on the wire (the owner may answer the client's requests).
      const claims = [...claimsOf(frames, web4), ...claimsOf(frames, web6)]
      expect(claims.filter((mac) => mac !== owner.mac)).toEqual([])
      expect({ web: await routerPaths("192.0.2.0/32"), local: await routerPaths("192.0.2.1/32") }).toEqual(pathsBefore)
      figure(`config edit (pools grown): Services' resourceVersions unchanged, L2 owner unchanged (${owner.name}), ${claims.length} ARP/NA claims on the wire, all from the owner; BGP paths unchanged`)
    }, 60_000)

    it("changes nothing when the controller restarts", async () => {
      const owner = await settledOwner(web4)
      const before = await resourceVersions(services)
      await lab.killController()
      lab.startController()
      // A new Service getting its address shows the restarted controller has reconciled everything.
      await createService(lab.api, { name: "after-restart", pool: "l2", families: "IPv4", endpointNodes: lab.nodes })
      const [fresh] = await waitForIngress(lab.api, "after-restart", 1, "default", 30_000)
      expect([web4, "198.51.100.215"]).not.toContain(fresh)
      expect(await resourceVersions(services)).toEqual(before)
      expect((await settledOwner(web4)).name).toBe(owner.name)
      figure(`controller restart: Services' resourceVersions and addresses unchanged, L2 owner unchanged; a new Service got ${fresh}`)
    }, 60_000)
  })
})
