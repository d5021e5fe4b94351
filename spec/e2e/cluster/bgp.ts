// BGP on the real cluster: every node's speaker (a hostNetwork pod of the kustomize install) peers with
// the FRR router with BFD on; a Service's address is routed by the router over all three nodes (ECMP
// in its kernel) and the client behind the router reaches it; with externalTrafficPolicy Local only the
// node with the ready endpoint announces it.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { until, urlOf } from "../../support/lab.ts"
import { lbServiceYaml, waitIngress, waitRollout, webDeploymentYaml } from "../../support/cluster/metallb.ts"
import { ensureMetallb, routerNextHops, routerSessions } from "../../support/cluster/scenarios.ts"
import { get } from "../../support/cluster/probe.ts"
import type { SharedCluster } from "../../support/cluster/shared.ts"

export const bgpSuite = (cluster: () => SharedCluster): void => {
  describe("BGP", () => {
    const kubectl = (args: ReadonlyArray<string>, input?: string) => cluster().kubectl(args, input)
    beforeAll(async () => {
      await ensureMetallb(cluster())
    }, 600_000)
    afterAll(() => {
      kubectl(["delete", "service", "bgp-web", "bgp-local", "--ignore-not-found"])
      kubectl(["delete", "deployment", "bgp-web", "bgp-local", "--ignore-not-found"])
    }, 120_000)

    it("peers every node with the router (BFD up) and routes a Service's address over all of them (ECMP)", async () => {
      kubectl(["apply", "-f", "-"], webDeploymentYaml("bgp-web", { replicas: 2 }))
      await waitRollout(cluster().kubectl, "deployment/bgp-web", "default", "app=bgp-web", cluster().kubeletTail)
      kubectl(["apply", "-f", "-"], lbServiceYaml({ name: "bgp-web", app: "bgp-web", pool: "bgp", families: "IPv4" }))
      const [address = ""] = await waitIngress(cluster().kubectl, "bgp-web", 1)
      const nodeIps = cluster().nodes.map((n) => n.ip4).sort()
      const sessions = await until("every node Established with BFD Up", async () => {
        const s = await routerSessions(cluster())
        return nodeIps.every((ip) => s.bgp[ip] === "Established" && s.bfd[ip] === "Up") ? s : undefined
      }, { timeoutMs: 60_000, intervalMs: 500 })
      console.log(`router sessions: ${JSON.stringify(sessions)}`)
      const hops = await until(`ECMP routes to ${address}`, async () => {
        const h = await routerNextHops(cluster(), address)
        return h.length === nodeIps.length ? h : undefined
      }, { timeoutMs: 30_000, intervalMs: 200 })
      expect(hops).toEqual(nodeIps)
      // The route can be in the router before every node's kube-proxy has programmed the new address
      // (it reacts to the same status write): wait for five answers in a row, then hold it to 20 of 20.
      let inARow = 0
      await until(`five answers in a row from ${address}`, async () => {
        inARow = (await get(cluster().client, urlOf(address), 2_000)) === undefined ? 0 : inARow + 1
        return inARow >= 5 ? true : undefined
      }, { timeoutMs: 30_000, intervalMs: 100 })
      const bodies = new Set<string>()
      for (let i = 0; i < 20; i++) {
        const body = await get(cluster().client, urlOf(address), 2_000)
        expect(body).toMatch(/^bgp-web-.* on node-\d$/)
        bodies.add(body ?? "")
      }
      console.log(`the client (behind the router) reached ${address} over ${hops.join(", ")}: ${[...bodies].join("; ")}`)
    }, 300_000)

    it("announces an externalTrafficPolicy Local Service only from the node with the endpoint", async () => {
      kubectl(["apply", "-f", "-"], webDeploymentYaml("bgp-local", { replicas: 1, nodes: ["node-2"] }))
      await waitRollout(cluster().kubectl, "deployment/bgp-local", "default", "app=bgp-local", cluster().kubeletTail)
      kubectl(["apply", "-f", "-"], lbServiceYaml({ name: "bgp-local", app: "bgp-local", pool: "bgp", families: "IPv4", externalTrafficPolicy: "Local" }))
      const [address = ""] = await waitIngress(cluster().kubectl, "bgp-local", 1)
      const node2 = cluster().nodeNamed("node-2").ip4
      const hops = await until(`the route to ${address} via node-2 only`, async () => {
        const h = await routerNextHops(cluster(), address)
        return h.length === 1 && h[0] === node2 ? h : undefined
      }, { timeoutMs: 30_000, intervalMs: 200 })
      expect(hops).toEqual([node2])
      // Still only node-2 a few seconds on (no other node announces it late).
      await new Promise((r) => setTimeout(r, 3_000))
      expect(await routerNextHops(cluster(), address)).toEqual([node2])
      expect(await get(cluster().client, urlOf(address), 2_000)).toMatch(/ on node-2$/)
    }, 300_000)
  })
}
