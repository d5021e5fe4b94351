// `metallb-ts explain` against the real API server with the real controller running: Services pending for
// several causes (pool exhausted while others are excluded by namespace and autoAssign, a requested
// address outside every pool, one in use, not LoadBalancer, another class) and assigned ones, explained
// by the CLI process as a user holding only the shipped read-only explain role. Its answers are checked
// against what the controller actually wrote (same addresses; no address where it says none). The BGP
// session states come from BGPSessionState objects written by the speaker's own writer.
import { execFile } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect } from "effect"
import type { Explanation, ServiceExplanation } from "../../core/explain/explanation.ts"
import { makeKubeApi } from "../../shell/kube/kube-api.ts"
import { SessionStateWriter } from "../../shell/kube/session-states.ts"
import { apiServerSkipReason } from "../support/apiserver.ts"
import { applyYaml, type ControllerTestbed, ingressOf, metallbNamespace, poolYaml, startControllerTestbed } from "../support/controller-process.ts"
import { eventually } from "../support/netns.ts"
import { skipUnlessCi } from "../support/skip.ts"

const run = promisify(execFile)
const repo = new URL("../..", import.meta.url).pathname

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("metallb-ts explain against the real API server and controller", () => {
  let bed: ControllerTestbed
  let kubeconfig: string

  const explainCli = async (...args: ReadonlyArray<string>) =>
    (await run(process.execPath, ["shell/main/cli.ts", "explain", "--kubeconfig", kubeconfig, ...args], { cwd: repo, timeout: 60_000 })).stdout

  beforeAll(async () => {
    bed = await startControllerTestbed()
    bed.api.kubectl(["apply", "--server-side", "-f", "manifests/base/explain-rbac.yaml"])
    applyYaml(bed.api, [
      poolYaml("general", ["192.0.2.0/31"]),
      poolYaml("dev-only", ["192.0.2.16/30"], "  serviceAllocation:\n    namespaces: [dev]\n"),
      poolYaml("manual", ["198.51.100.0/30"], "  autoAssign: false\n"),
      `apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: l2\n  namespace: ${metallbNamespace}\n`,
    ].join("---\n"))
    for (const name of ["node-a", "node-b"]) await bed.core.createNode({ body: { metadata: { name, labels: { "kubernetes.io/hostname": name } } } })
    await bed.core.createNamespace({ body: { metadata: { name: "shop" } } })
    // The person running explain: the read-only role and nothing else (as overlays/explain binds it).
    bed.api.kubectl(["create", "serviceaccount", "explainer", "-n", "shop"])
    bed.api.kubectl(["create", "clusterrolebinding", "explainer", "--clusterrole=metallb-system:explain", "--serviceaccount=shop:explainer"])
    bed.api.kubectl(["create", "rolebinding", "explainer", "-n", metallbNamespace, "--role=explain", "--serviceaccount=shop:explainer"])
    kubeconfig = join(mkdtempSync(join(tmpdir(), "mlbt-explain-")), "kubeconfig")
    writeFileSync(kubeconfig, (await bed.api.serviceAccountToken("shop", "explainer")).kubeConfig.exportConfig())
    await bed.start("controller")
  }, 180_000)

  afterAll(async () => {
    await bed?.stop()
  })

  const create = (name: string, spec: Record<string, unknown> = {}, annotations: Record<string, string> = {}) =>
    bed.core.createNamespacedService({
      namespace: "shop",
      body: { metadata: { name, annotations }, spec: { type: "LoadBalancer", selector: { app: name }, ports: [{ port: 80, protocol: "TCP" }], ...spec } },
    })
  const read = (name: string) => bed.core.readNamespacedService({ name, namespace: "shop" })
  const failedEvent = (name: string) =>
    eventually(`AllocationFailed for ${name}`, async () =>
      (await bed.events.listNamespacedEvent({ namespace: "shop" })).items.find((e) => e.regarding?.name === name && e.reason === "AllocationFailed"), { timeoutMs: 30_000 })

  it("explains assigned and pending Services as the controller decided them", async () => {
    await create("web")
    const [webIp] = await eventually("web's address", async () => {
      const ips = ingressOf(await read("web"))
      return ips.length > 0 ? ips : undefined
    }, { timeoutMs: 30_000 })
    await create("filler")
    await eventually("filler's address", async () => (ingressOf(await read("filler")).length > 0 ? true : undefined), { timeoutMs: 30_000 })
    await create("pending")
    await create("outside", {}, { "metallb.io/loadBalancerIPs": "203.0.113.9" })
    await create("thief", {}, { "metallb.io/loadBalancerIPs": webIp! })
    await create("cip", { type: "ClusterIP" })
    await create("classy", { loadBalancerClass: "example.com/other" })
    for (const name of ["pending", "outside", "thief"]) await failedEvent(name)
    bed.api.kubectl(["apply", "-f", "-"], JSON.stringify({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "web-1", namespace: "shop", labels: { "kubernetes.io/service-name": "web" } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.0.0.5"], nodeName: "node-b", conditions: { ready: true } }],
    }))

    const explanation = JSON.parse(await explainCli("--all", "-o", "json")) as Explanation
    const byKey = new Map(explanation.services.map((s) => [s.service, s]))
    const get = (name: string): ServiceExplanation => byKey.get(`shop/${name}`)!

    // What the read-only role could not read is said, not taken as empty.
    expect(explanation.unreadable.map((u) => [u.kind, u.status])).toEqual([["Secret", 403]])
    expect(explanation.config.valid).toBe(true)

    // Assigned: the same addresses the controller wrote, kept from status, with the pool.
    for (const name of ["web", "filler"]) {
      const e = get(name)
      expect(e.allocation).toMatchObject({ _tag: "Assigned", pool: "general", how: { _tag: "KeptFromStatus" }, addresses: ingressOf(await read(name)) })
    }
    // Layer 2: the only node with a ready endpoint is not required (Cluster policy): both are candidates, one wins.
    expect(get("web").layer2?.nodes.filter((n) => n.reason === "candidate").map((n) => n.node).sort()).toEqual(["node-a", "node-b"])
    expect(get("web").layer2?.owner).toMatch(/^node-[ab]$/)

    // Pending: each cause as the controller met it, and the controller wrote no address for any.
    expect(get("pending").allocation).toMatchObject({ _tag: "Failed", error: "PoolExhausted" })
    const pools = get("pending").allocation._tag === "Failed" ? (get("pending").allocation as { pools: ReadonlyArray<{ pool: string; verdict: string }> }).pools : []
    expect(Object.fromEntries(pools.map((p) => [p.pool, p.verdict]))).toEqual({ general: "exhausted", "dev-only": "namespace", manual: "autoAssign" })
    expect(get("outside").allocation).toMatchObject({ _tag: "Failed", error: "AddressNotInPool" })
    expect(get("thief").allocation).toMatchObject({ _tag: "Failed", error: "AddressInUse", holders: ["shop/web"] })
    for (const name of ["pending", "outside", "thief"]) expect(ingressOf(await read(name))).toEqual([])
    expect(byKey.has("shop/cip")).toBe(false)
    expect(get("classy").allocation).toMatchObject({ _tag: "OtherClass", loadBalancerClass: "example.com/other" })

    const text = await explainCli("-n", "shop", "web", "pending", "cip")
    expect(text).toContain("Could not read Secret in metallb-system")
    expect(text).toMatch(/Service shop\/pending\n {2}status: <pending>\n {2}no address: no available IPs \(ipv4\) in any pool for this service/)
    expect(text).toMatch(/- dev-only \[serviceAllocation, priority none\]: excluded: serviceAllocation does not allow the namespace/)
    expect(text).toMatch(/Service shop\/cip\n {2}status: none\n {2}no address: type ClusterIP, not LoadBalancer/)
    expect(text).toMatch(new RegExp(`Service shop/web\\n {2}status: ${webIp!.replaceAll(".", "\\.")}\\n {2}addresses: .* from pool general\\n {2}how: kept from its status`))
    console.log(`explain -n shop web pending cip (real output):\n${text}`)
  }, 120_000)

  it("reads the speakers' pods and status objects through the role: membership, Layer 2 and BGP reports", async () => {
    // Speaker pods as the DaemonSet leaves them (no kubelet here: Ready set through the status subresource).
    for (const [node, ready] of [["node-a", "True"], ["node-b", "False"]] as const) {
      await bed.core.createNamespacedPod({
        namespace: metallbNamespace,
        body: { metadata: { name: `speaker-${node}`, labels: { app: "metallb", component: "speaker" } }, spec: { nodeName: node, serviceAccountName: "speaker", automountServiceAccountToken: false, containers: [{ name: "speaker", image: "metallb-ts" }] } },
      })
      bed.api.kubectl(["patch", "pod", `speaker-${node}`, "-n", metallbNamespace, "--subresource=status", "--type=merge", "-p",
        JSON.stringify({ status: { conditions: [{ type: "Ready", status: ready, lastTransitionTime: new Date().toISOString() }] } })])
    }
    applyYaml(bed.api, [
      `apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: tor\n  namespace: ${metallbNamespace}\nspec:\n  myASN: 64500\n  peerASN: 64501\n  peerAddress: 192.0.2.254\n  routerID: 192.0.2.10\n`,
      `apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: routed\n  namespace: ${metallbNamespace}\nspec:\n  ipAddressPools: [general]\n  localPref: 150\n  communities: ["64500:7"]\n`,
    ].join("---\n"))
    const status = (kind: "ServiceL2Status" | "ServiceBGPStatus", node: string, extra: Record<string, unknown>) => ({
      apiVersion: "metallb.io/v1beta1",
      kind,
      metadata: { name: `${kind === "ServiceL2Status" ? "l2" : "bgp"}-web-${node}`, namespace: metallbNamespace },
      status: { node, serviceName: "web", serviceNamespace: "shop", ...extra },
    })
    // As speakers write them: node-b still reports Layer 2 (it announced before it went unready); node-a reports its BGP peer.
    for (const o of [status("ServiceL2Status", "node-b", { interfaces: [{ name: "eth0" }] }), status("ServiceBGPStatus", "node-a", { peers: ["tor"] })]) {
      bed.api.kubectl(["apply", "--server-side", "-f", "-"], JSON.stringify({ ...o, status: undefined }))
      bed.api.kubectl(["patch", o.kind.toLowerCase(), o.metadata.name, "-n", metallbNamespace, "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: o.status })])
    }

    const e = (JSON.parse(await explainCli("-n", "shop", "web", "-o", "json")) as Explanation)
    expect(e.membership).toMatch(/members inferred from Ready speaker pods \(node-a\)/)
    const web = e.services[0]!
    expect(web.layer2?.owner).toBe("node-a")
    expect(web.layer2?.nodes.find((n) => n.node === "node-b")?.reason).toBe("NotMember")
    expect(web.layer2?.reported).toEqual([{ node: "node-b", interfaces: ["eth0"] }])
    expect(web.notes).toContainEqual(expect.stringMatching(/ServiceL2Status says node-b announces it, not node-a/))
    const bgp = Object.fromEntries((web.bgp?.nodes ?? []).map((n) => [n.node, n]))
    expect(bgp["node-a"]).toMatchObject({ reason: "advertises", advertisements: ["routed"] })
    expect(bgp["node-a"]?.peers).toEqual([{ peer: "tor", routes: [{ prefix: `${ingressOf(await read("web"))[0]}/32`, localPref: 150, communities: ["64500:7"] }], reported: true }])
    // node-b would advertise by configuration, but no Ready speaker runs there.
    expect(bgp["node-b"]?.reason).toBe("NoSpeaker")
  }, 120_000)

  it("reads the speakers' BGPSessionStates (written by the speaker's own writer, as its ServiceAccount): per node and peer, and 'session down' with the state and since when", async () => {
    const writer = new SessionStateWriter(makeKubeApi((await bed.api.serviceAccountToken(metallbNamespace, "speaker")).kubeConfig), metallbNamespace, "node-a")
    const since = Date.parse("2026-12-03T10:00:00Z")
    const tor = { bfdStatus: "N/A", node: "node-a", peer: "192.0.2.254", vrf: "" }
    await Effect.runPromise(writer.write("tor", { ...tor, bgpStatus: "Established" }, since))
    const up = (JSON.parse(await explainCli("-n", "shop", "web", "-o", "json")) as Explanation).services[0]!.bgp!.nodes.find((n) => n.node === "node-a")!
    expect(up.reason).toBe("advertises")
    expect(up.sessions).toEqual([{ peer: "tor", state: { bgpStatus: "Established", bfdStatus: "N/A", since: "2026-12-03T10:00:00.000Z", object: expect.stringMatching(/^node-a-/) } }])
    // The router went away: the speaker's session falls back to Active.
    await Effect.runPromise(writer.write("tor", { ...tor, bgpStatus: "Active" }, since + 90_000))
    const down = (JSON.parse(await explainCli("-n", "shop", "web", "-o", "json")) as Explanation).services[0]!.bgp!.nodes.find((n) => n.node === "node-a")!
    expect(down.reason).toBe("SessionDown")
    const text = await explainCli("-n", "shop", "web")
    console.log(`explain -n shop web, node-a's session to tor Active (real output):\n${text}`)
    expect(text).toContain("  node-a: not advertising: session down (no session to a peer it would advertise to is Established) (BGPAdvertisements routed)")
    expect(text).toContain("    session with tor: session down: Active since 2026-12-03T10:01:30.000Z, BFD N/A")
    await Effect.runPromise(writer.write("tor", { ...tor, bgpStatus: "Established" }, since + 120_000))
  }, 120_000)

  it("says plainly when a token may not read BGPSessionStates (403)", async () => {
    // The explain role without its BGPSessionState rule.
    bed.api.kubectl(["create", "serviceaccount", "narrow", "-n", "shop"])
    bed.api.kubectl(["create", "clusterrole", "narrow", "--verb=get,list", "--resource=services,nodes,namespaces,endpointslices.discovery.k8s.io,ipaddresspools.metallb.io,l2advertisements.metallb.io,bgpadvertisements.metallb.io,bgppeers.metallb.io,bfdprofiles.metallb.io,communities.metallb.io,servicel2statuses.metallb.io,servicebgpstatuses.metallb.io,configurationstates.metallb.io"])
    bed.api.kubectl(["create", "clusterrolebinding", "narrow", "--clusterrole=narrow", "--serviceaccount=shop:narrow"])
    bed.api.kubectl(["create", "rolebinding", "narrow", "-n", metallbNamespace, "--role=explain", "--serviceaccount=shop:narrow"])
    const narrow = join(dirname(kubeconfig), "narrow")
    writeFileSync(narrow, (await bed.api.serviceAccountToken("shop", "narrow")).kubeConfig.exportConfig())
    const out = (await run(process.execPath, ["shell/main/cli.ts", "explain", "--kubeconfig", narrow, "-n", "shop", "web"], { cwd: repo, timeout: 60_000 })).stdout
    expect(out).toContain("  session states unknown: BGPSessionStates could not be read: not allowed (HTTP 403)")
    expect(out).toMatch(/Could not read BGPSessionState in metallb-system: list bgpsessionstates\.frrk8s\.metallb\.io metallb-system\/\*: 403 Forbidden/)
  }, 120_000)

  it("offline, from a `kubectl get ... -A -o yaml` dump, gives the live answers", async () => {
    const kinds = "services,endpointslices,nodes,namespaces,pods,ipaddresspools,l2advertisements,bgpadvertisements,bgppeers,bfdprofiles,communities," +
      "servicel2statuses,servicebgpstatuses,configurationstates,bgpsessionstates"
    const dump = join(dirname(kubeconfig), "dump.yaml")
    writeFileSync(dump, bed.api.kubectl(["get", kinds, "-A", "-o", "yaml"]))
    const live = JSON.parse(await explainCli("--all", "-o", "json")) as Explanation
    const offline = JSON.parse((await run(process.execPath, ["shell/main/cli.ts", "explain", "--cluster-state", dump, "--all", "-o", "json"], { cwd: repo, timeout: 60_000 })).stdout) as Explanation
    expect(offline.services).toEqual(live.services)
    expect(offline.config).toEqual(live.config)
    expect(offline.membership).toEqual(live.membership)
    // Each says what it lacked: the role's 403 on Secrets, the dump's missing Secrets.
    expect(live.unreadable.map((u) => u.kind)).toEqual(["Secret"])
    expect(offline.unreadable).toEqual([{ kind: "Secret", reason: `not in ${dump}` }])
  }, 120_000)

  it("an unknown Service exits 1 and names it", async () => {
    const failed = await run(process.execPath, ["shell/main/cli.ts", "explain", "--kubeconfig", kubeconfig, "-n", "shop", "nope"], { cwd: repo }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    )
    expect(failed?.code).toBe(1)
    expect(failed?.stderr).toMatch(/no Service shop\/nope in kubeconfig context/)
  })
})
