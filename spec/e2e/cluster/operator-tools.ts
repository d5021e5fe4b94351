// `metallb-ts explain` and `metallb-ts plan` on the real cluster (issue 18), run as processes with the
// cluster's admin kubeconfig, their answers checked against what the cluster then does: the Layer 2
// announcer explain names is the node whose MAC the client resolves and whose ServiceL2Status reports
// it; an externalTrafficPolicy Local Service is announced from the node with its endpoint and the
// others are passed over for that; a BGP Service is advertised by every node to the router, as its
// routes show; a pending Service's reason is the controller's. Then plan, for an l2 pool shrunk so that
// one Service must move to an address another node wins: exit code 2, the Service that moves and where
// to, the announcement that leaves one node and appears on another; after `kubectl apply` the controller
// does exactly that, and the client reaches the new address through the node plan and explain name.
// The original pool is restored.
import { execFile } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { electionHash } from "../../../core/election/owner.ts"
import { compareBytes } from "../../../core/election/sha256.ts"
import type { Explanation, ServiceExplanation } from "../../../core/explain/explanation.ts"
import { parseAddress } from "../../../core/net/address.ts"
import { until, urlOf } from "../../support/lab.ts"
import { applyWithWebhook, clusterConfigYaml, lbServiceYaml, metallbNamespace, repoRoot, waitIngress, waitRollout, webDeploymentYaml } from "../../support/cluster/metallb.ts"
import { get } from "../../support/cluster/probe.ts"
import { announcerOf, ensureMetallb, l2StatusNodes, routerNextHops } from "../../support/cluster/scenarios.ts"
import type { SharedCluster } from "../../support/cluster/shared.ts"
import { type PlanJson, predicted, servicesIn } from "../plan-support.ts"

interface CliRun {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** `metallb-ts ARGS` as a process (the exit status is part of the answer: plan exits 2 when addresses change). */
const cli = (args: ReadonlyArray<string>): Promise<CliRun> =>
  new Promise((resolve) => {
    execFile(process.execPath, ["shell/main/cli.ts", ...args], { cwd: repoRoot, timeout: 120_000, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })
    })
  })

/** The addresses of an IPv4 range `a.b.c.x-a.b.c.y` (within one /24), in order. */
const addressesOf = (range: string): ReadonlyArray<string> => {
  const [first = "", last = ""] = range.split("-")
  const prefix = first.slice(0, first.lastIndexOf(".") + 1)
  if (!last.startsWith(prefix)) throw new Error(`addressesOf: ${range} is not within one /24`)
  const [lo, hi] = [Number(first.slice(prefix.length)), Number(last.slice(prefix.length))]
  return Array.from({ length: hi - lo + 1 }, (_, i) => `${prefix}${lo + i}`)
}

/** Consecutive addresses of one /24 as ranges. */
const asRanges = (addresses: ReadonlyArray<string>): ReadonlyArray<string> => {
  const octet = (ip: string) => Number(ip.slice(ip.lastIndexOf(".") + 1))
  const runs: Array<Array<string>> = []
  for (const ip of addresses) {
    const run = runs.at(-1)
    if (run !== undefined && octet(run.at(-1) ?? "") + 1 === octet(ip)) run.push(ip)
    else runs.push([ip])
  }
  return runs.map((run) => `${run[0]}-${run.at(-1)}`)
}

/** Which of `nodes` MetalLB's election picks for `ip` when all are candidates with equal preference (the lowest hash). */
const hashWinner = (nodes: ReadonlyArray<string>, ip: string): string | undefined => {
  const address = Result.getOrThrow(parseAddress(ip))
  return [...nodes].sort((a, b) => compareBytes(electionHash(a, address), electionHash(b, address)))[0]
}

export const operatorToolsSuite = (cluster: () => SharedCluster): void => {
  describe("operator tools (explain, plan)", () => {
    const kubectl = (args: ReadonlyArray<string>, input?: string) => cluster().kubectl(args, input)
    const services = ["ops-l2", "ops-local", "ops-bgp", "ops-outside"]
    const outside = "198.51.100.77"
    const address: Record<string, string> = {}
    let explained: ReadonlyMap<string, ServiceExplanation> = new Map()
    let explanation: Explanation | undefined
    let text = ""

    const explain = async (...args: ReadonlyArray<string>): Promise<CliRun> => {
      const run = await cli(["explain", "--kubeconfig", cluster().kubeconfig, "-n", "default", ...args])
      if (run.status !== 0) throw new Error(`explain ${args.join(" ")} exited ${run.status}: ${run.stderr}${run.stdout}`)
      return run
    }
    const explainedAs = (name: string): ServiceExplanation => {
      const e = explained.get(`default/${name}`)
      if (e === undefined) throw new Error(`explain said nothing about default/${name} (it answered for ${[...explained.keys()].join(", ")})`)
      return e
    }
    /** The one node the client resolves `ip` to, once its ServiceL2Status says the same twice in a row. */
    const agreedAnnouncer = async (service: string, ip: string): Promise<string> => {
      let seen = { arp: undefined as string | undefined, status: [] as ReadonlyArray<string> }
      let previous: string | undefined
      return until(`one node announcing ${ip} (${service}) at the client and in ServiceL2Status`, async () => {
        seen = { arp: (await announcerOf(cluster(), ip))?.name, status: l2StatusNodes(cluster(), service) }
        const agreed = seen.arp !== undefined && seen.status.length === 1 && seen.status[0] === seen.arp ? seen.arp : undefined
        const settled = agreed !== undefined && agreed === previous
        previous = agreed
        return settled ? agreed : undefined
      }, { timeoutMs: 60_000, intervalMs: 200 }).catch((error: unknown) => {
        throw new Error(`${String(error)}; last seen: the client resolved it to ${seen.arp ?? "no single node"}, ServiceL2Status on ${seen.status.join(", ") || "no node"}`)
      })
    }
    const announcers: Record<string, string> = {}
    /** The peers each ServiceBGPStatus of ops-bgp lists. */
    const bgpStatusPeers = (): ReadonlyArray<ReadonlyArray<string>> =>
      (JSON.parse(kubectl(["get", "servicebgpstatuses", "-n", metallbNamespace, "-l", "metallb.io/service-name=ops-bgp,metallb.io/service-namespace=default", "-o", "json"])) as {
        items: ReadonlyArray<{ status?: { peers?: ReadonlyArray<string> } }>
      }).items.map((o) => o.status?.peers ?? [])
    const since = (start: number) => `${((performance.now() - start) / 1000).toFixed(1)} s`

    beforeAll(async () => {
      const started = performance.now()
      await ensureMetallb(cluster())
      // Two backends anywhere (the Layer 2, BGP and pending Services), one on node-2 (the Local Service).
      kubectl(["apply", "-f", "-"], webDeploymentYaml("ops-web", { replicas: 2 }))
      kubectl(["apply", "-f", "-"], webDeploymentYaml("ops-local", { replicas: 1, nodes: ["node-2"] }))
      kubectl(["apply", "-f", "-"], lbServiceYaml({ name: "ops-l2", app: "ops-web", pool: "l2", families: "IPv4" }))
      kubectl(["apply", "-f", "-"], lbServiceYaml({ name: "ops-local", app: "ops-local", pool: "l2", families: "IPv4", externalTrafficPolicy: "Local" }))
      kubectl(["apply", "-f", "-"], lbServiceYaml({ name: "ops-bgp", app: "ops-web", pool: "bgp", families: "IPv4" }))
      // A requested address outside every pool (no pool annotation: every pool is asked).
      const pending = JSON.parse(lbServiceYaml({ name: "ops-outside", app: "ops-web", pool: "l2", families: "IPv4" })) as { metadata: { annotations: Record<string, string> } }
      pending.metadata.annotations = { "metallb.io/loadBalancerIPs": outside }
      kubectl(["apply", "-f", "-"], JSON.stringify(pending))
      await waitRollout(cluster().kubectl, "deployment/ops-web", "default", "app=ops-web", cluster().kubeletTail)
      await waitRollout(cluster().kubectl, "deployment/ops-local", "default", "app=ops-local", cluster().kubeletTail)
      for (const name of ["ops-l2", "ops-local", "ops-bgp"]) [address[name] = ""] = await waitIngress(cluster().kubectl, name, 1)
      // What the cluster does, settled, before explain reads it.
      for (const name of ["ops-l2", "ops-local"]) announcers[name] = await agreedAnnouncer(name, address[name] ?? "")
      await until(`routes to ${address["ops-bgp"]} over every node and a ServiceBGPStatus from each naming the router`, async () =>
        (await routerNextHops(cluster(), address["ops-bgp"] ?? "")).length === cluster().nodes.length &&
          bgpStatusPeers().filter((peers) => peers.includes("router")).length === cluster().nodes.length
          ? true
          : undefined, { timeoutMs: 60_000, intervalMs: 250 })
      await until("the controller's AllocationFailed for ops-outside", async () =>
        kubectl(["get", "events", "-n", "default", "--field-selector", "involvedObject.name=ops-outside,reason=AllocationFailed", "-o", "name"]).trim() || undefined, { timeoutMs: 30_000 })
      const [json, words] = await Promise.all([explain(...services, "-o", "json"), explain(...services)])
      explanation = JSON.parse(json.stdout) as Explanation
      explained = new Map(explanation.services.map((s) => [s.service, s]))
      text = words.stdout
      console.log(`set up and settled in ${since(started)}; explain ${services.join(" ")} on the cluster (real output):\n${text}`)
    }, 300_000)
    afterAll(async () => {
      await applyWithWebhook(cluster().kubectl, clusterConfigYaml(cluster().plan))
      kubectl(["delete", "service", ...services, "--ignore-not-found"])
      kubectl(["delete", "deployment", "ops-web", "ops-local", "--ignore-not-found"])
    }, 120_000)

    it("explain: the Layer 2 announcer is the node the client resolves and ServiceL2Status reports; membership from the speaker pods", () => {
      const nodes = cluster().nodes.map((n) => n.name).sort()
      expect(explanation?.config.valid).toBe(true)
      expect(explanation?.membership).toContain(`members inferred from Ready speaker pods (${nodes.join(", ")})`)
      const e = explainedAs("ops-l2")
      expect(e.allocation).toMatchObject({ _tag: "Assigned", pool: "l2", addresses: [address["ops-l2"]] })
      expect(e.layer2?.owner).toBe(announcers["ops-l2"])
      expect(e.layer2?.reported.map((r) => r.node)).toEqual([announcers["ops-l2"]])
      // Cluster policy: every node a candidate, ranked; the first is the owner.
      const ranked = [...(e.layer2?.nodes ?? [])].sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0))
      expect(ranked.map((n) => [n.reason, n.rank])).toEqual(nodes.map((_, i) => ["candidate", i + 1]))
      expect(ranked.map((n) => n.node).sort()).toEqual(nodes)
      expect(ranked[0]?.node).toBe(announcers["ops-l2"])
      expect(e.notes).toEqual([])
      expect(text).toContain(`announced by ${announcers["ops-l2"]} on`)
    })

    it("explain: an externalTrafficPolicy Local Service is announced by node-2, the other nodes have no local endpoint", () => {
      const e = explainedAs("ops-local")
      expect(announcers["ops-local"]).toBe("node-2")
      expect(e.layer2?.owner).toBe("node-2")
      expect(Object.fromEntries(e.layer2?.nodes.map((n) => [n.node, n.reason]) ?? [])).toEqual({ "node-1": "NoLocalEndpoint", "node-2": "candidate", "node-3": "NoLocalEndpoint" })
      expect(e.layer2?.reported.map((r) => r.node)).toEqual(["node-2"])
      expect(e.notes).toEqual([])
      expect(text).toContain("-  node-1: no ready endpoint here (externalTrafficPolicy Local)")
      expect(text).toContain("-  node-3: no ready endpoint here (externalTrafficPolicy Local)")
    })

    it("explain: a BGP Service is advertised by every node to the router, as the router's routes show", async () => {
      const e = explainedAs("ops-bgp")
      const ip = address["ops-bgp"] ?? ""
      expect(e.layer2).toBeUndefined()
      expect(e.bgp?.nodes.map((n) => [n.node, n.reason, n.peers.map((p) => [p.peer, p.routes.map((r) => r.prefix), p.reported])])).toEqual(
        cluster().nodes.map((n) => [n.name, "advertises", [["router", [`${ip}/32`], true]]]),
      )
      const advertising = (e.bgp?.nodes ?? []).filter((n) => n.reason === "advertises").map((n) => cluster().nodeNamed(n.node).ip4).sort()
      expect(await routerNextHops(cluster(), ip)).toEqual(advertising)
      expect(e.notes).toEqual([])
    })

    it("explain: a Service asking for an address outside every pool is pending, for that reason", () => {
      const e = explainedAs("ops-outside")
      expect(e.status).toEqual([])
      expect(e.allocation).toMatchObject({ _tag: "Failed", error: "AddressNotInPool" })
      expect(kubectl(["get", "service", "ops-outside", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}"]).trim()).toBe("")
      expect(text).toMatch(/Service default\/ops-outside\n {2}status: <pending>\n {2}no address: .*198\.51\.100\.77/)
    })

    it("plan: a shrunk l2 pool moves one Service, as the controller then does, and its announcement moves to the node explain names", async () => {
      const kc = new KubeConfig()
      kc.loadFromFile(cluster().kubeconfig)
      const core = kc.makeApiClient(CoreV1Api)
      const before = address["ops-l2"] ?? ""
      const live = await servicesIn(core, "default")
      // The pool shrinks to ops-local's address and those from the first free one another node would
      // win (by MetalLB's hash: a Cluster-policy Service's candidates are every node), so the
      // announcement has to move between nodes, not only between addresses.
      const pool = addressesOf(cluster().plan.l2Pool4)
      const nodes = cluster().nodes.map((n) => n.name)
      const target = pool.findIndex((ip, i) => i > pool.indexOf(before) && ip !== address["ops-local"] && hashWinner(nodes, ip) !== announcers["ops-l2"])
      if (target < 0) throw new Error(`no address of ${cluster().plan.l2Pool4} above ${before} that a node other than ${announcers["ops-l2"]} wins`)
      const kept = pool.filter((ip, i) => i >= target || ip === address["ops-local"])
      const file = join(mkdtempSync(join(tmpdir(), "mlbt-cluster-plan-")), "l2-pool.yaml")
      const shrunk = JSON.stringify({
        apiVersion: "metallb.io/v1beta1",
        kind: "IPAddressPool",
        metadata: { name: "l2", namespace: metallbNamespace },
        spec: { addresses: [...asRanges(kept), cluster().plan.l2Pool6] },
      })
      writeFileSync(file, shrunk)
      const planArgs = ["plan", "--kubeconfig", cluster().kubeconfig, file]
      const started = performance.now()
      const [json, words] = await Promise.all([cli([...planArgs, "-o", "json"]), cli(planArgs)])
      console.log(`plan in ${since(started)} (real output, exit ${words.status}):\n${words.stdout}${words.stderr}`)
      expect(json.status).toBe(2)
      const plan = JSON.parse(json.stdout) as PlanJson
      expect(plan.valid).toBe(true)
      const moves = plan.services.filter((c) => !c.alreadyPending)
      expect(moves.map((c) => [c.service, c.kind, c.before])).toEqual([["default/ops-l2", "moves", [before]]])
      expect(moves[0]?.reasons.map((r) => r._tag)).toContain("PoolShrank")
      const after = moves[0]?.after[0] ?? ""
      expect(after).not.toBe(before)
      // The announcement leaves the node explain named and appears on one node for the new address.
      expect(plan.announcements.disappearing.map((a) => [a.protocol, a.service, a.target, a.node])).toEqual([["layer2", "default/ops-l2", before, announcers["ops-l2"]]])
      const appearing = plan.announcements.appearing.map((a) => [a.protocol, a.service, a.target])
      expect(appearing).toEqual([["layer2", "default/ops-l2", after]])
      const predictedNode = plan.announcements.appearing[0]?.node ?? ""
      // The first address of the shrunk pool, and the node the hash picks for it (so not the old one).
      expect(after).toBe(pool[target])
      expect(predictedNode).toBe(hashWinner(nodes, after))

      const expected = predicted(live, plan)
      try {
        await applyWithWebhook(cluster().kubectl, shrunk)
        const applied = performance.now()
        const settled = await until("the controller's changes as planned", async () => {
          const now = await servicesIn(core, "default")
          return JSON.stringify([...now].sort()) === JSON.stringify([...expected].sort()) ? now : undefined
        }, { timeoutMs: 60_000, intervalMs: 250 }).catch(async () => servicesIn(core, "default"))
        expect(Object.fromEntries(settled)).toEqual(Object.fromEntries(expected))
        const controllerDone = since(applied)
        const announcer = await agreedAnnouncer("ops-l2", after)
        const again = JSON.parse((await explain("ops-l2", "-o", "json")).stdout) as Explanation
        expect(again.services[0]?.layer2?.owner).toBe(announcer)
        expect(announcer).toBe(predictedNode)
        expect(await until(`the client reaching ${after}`, () => get(cluster().client, urlOf(after), 1_000), { timeoutMs: 15_000, intervalMs: 100 })).toMatch(/^ops-web-.* on node-\d$/)
        console.log(`plan: default/ops-l2 ${before} -> ${after}, announced by ${predictedNode}; after kubectl apply the controller did the same in ${controllerDone}, ` +
          `the client reached it through ${announcer} ${since(applied)} after the apply`)
      } finally {
        await applyWithWebhook(cluster().kubectl, clusterConfigYaml(cluster().plan))
      }
    }, 180_000)
  })
}
