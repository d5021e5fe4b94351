// Updates of a running metallb-ts on the real cluster (kustomize install). The speaker DaemonSet rolls
// (one node at a time, an argument changed; the new pod starts beside the old one, which hands its
// sockets over to it: shell/speaker/hand-over.ts) while the client sends a request every 20 ms to a
// Layer 2 Service: every node hands over, no request fails (the nodes the client's packets went to are
// printed), and the router's routes to a BGP Service never all vanish. The controller
// Deployment rolls, then its leader pod is deleted (the other replica takes the Lease): no Service's
// address changes. The memory of the controller and every speaker (their pods' cgroups) is printed.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { until, urlOf } from "../../support/lab.ts"
import { controllerSelector, lbServiceYaml, metallbNamespace, pods, speakerSelector, waitIngress, waitRollout, webDeploymentYaml } from "../../support/cluster/metallb.ts"
import { cgroupVersion } from "../../support/cluster/host-state.ts"
import { get, startFastProbe } from "../../support/cluster/probe.ts"
import { ensureMetallb, metallbMemory, routerNextHops } from "../../support/cluster/scenarios.ts"
import type { SharedCluster } from "../../support/cluster/shared.ts"
import { sleep } from "../../support/netns.ts"

export const updatesSuite = (cluster: () => SharedCluster): void => {
  describe("updates", () => {
    let l2 = ""
    let bgp = ""
    const kubectl = (args: ReadonlyArray<string>, input?: string) => cluster().kubectl(args, input)
    const addresses = () => Object.fromEntries(["upd-l2", "upd-bgp"].map((name) =>
      [name, kubectl(["get", "service", name, "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}"])]))

    beforeAll(async () => {
      await ensureMetallb(cluster())
      kubectl(["apply", "-f", "-"], webDeploymentYaml("upd-web", { replicas: 2 }))
      await waitRollout(cluster().kubectl, "deployment/upd-web", "default", "app=upd-web", cluster().kubeletTail)
      kubectl(["apply", "-f", "-"], lbServiceYaml({ name: "upd-l2", app: "upd-web", pool: "l2", families: "IPv4" }))
      kubectl(["apply", "-f", "-"], lbServiceYaml({ name: "upd-bgp", app: "upd-web", pool: "bgp", families: "IPv4" }))
      ;[l2 = ""] = await waitIngress(cluster().kubectl, "upd-l2", 1)
      ;[bgp = ""] = await waitIngress(cluster().kubectl, "upd-bgp", 1)
      await until("the L2 Service", () => get(cluster().client, urlOf(l2), 1_000), { timeoutMs: 30_000 })
      await until("routes to the BGP Service over every node", async () =>
        ((await routerNextHops(cluster(), bgp)).length === cluster().nodes.length ? true : undefined), { timeoutMs: 60_000, intervalMs: 250 })
    }, 600_000)
    afterAll(() => {
      kubectl(["delete", "service", "upd-l2", "upd-bgp", "--ignore-not-found"])
      kubectl(["delete", "deployment", "upd-web", "--ignore-not-found"])
    }, 120_000)

    it("rolls the speaker DaemonSet: each node's new speaker takes over from the old one, no request to the Layer 2 Service fails and the BGP routes never all vanish", async () => {
      const before = addresses()
      const oldSpeakers = new Set(pods(cluster().kubectl, metallbNamespace, speakerSelector).map((p) => p.metadata.name))
      const probe = startFastProbe(cluster().client, urlOf(l2), { durationMs: 150_000, intervalMs: 20, timeoutMs: 2_000 })
      await probe.started
      let fewestHops = cluster().nodes.length
      // Where the client sends the Layer 2 address's packets (its neighbour entry): the hand-over keeps it on one node.
      const announcers = new Set<string>()
      let watching = true
      const watch = (async () => {
        while (watching) {
          fewestHops = Math.min(fewestHops, (await routerNextHops(cluster(), bgp)).length)
          const neigh = JSON.parse((await cluster().client.run("ip", ["-j", "neigh", "show", l2, "dev", "eth0"])).stdout || "[]") as Array<{ lladdr?: string }>
          for (const entry of neigh) if (entry.lladdr !== undefined) announcers.add(cluster().nodes.find((n) => n.mac === entry.lladdr)?.name ?? entry.lladdr)
          await sleep(50)
        }
      })()
      const started = Date.now()
      const level = kubectl(["get", "daemonset/speaker", "-n", metallbNamespace, "-o", "jsonpath={.spec.template.spec.containers[0].args}"]).includes("--log-level=debug") ? "info" : "debug"
      kubectl(["patch", "daemonset/speaker", "-n", metallbNamespace, "--type=json", "-p",
        JSON.stringify([{ op: "replace", path: "/spec/template/spec/containers/0/args/1", value: `--log-level=${level}` }])])
      let rolledMs = 0
      try {
        await waitRollout(cluster().kubectl, "daemonset/speaker", metallbNamespace, speakerSelector, cluster().kubeletTail, 150_000)
        rolledMs = Date.now() - started
        // A few seconds more: the last new speaker settles (and may take its addresses back).
        await sleep(5_000)
      } finally {
        watching = false
        await watch
      }
      const attempts = (await probe.results({ stopNow: true })).filter((a) => a.t0 >= started - 1_000 && a.t0 <= started + rolledMs + 5_000)
      const failed = attempts.filter((a) => !a.ok)
      // The longest run of failures: from a failed request's start to the start of the next that succeeded.
      let longestOutageMs = 0
      for (const f of failed) {
        const back = attempts.find((a) => a.ok && a.t0 > f.t0)
        longestOutageMs = Math.max(longestOutageMs, (back?.t0 ?? Number.POSITIVE_INFINITY) - f.t0)
      }
      // Each new speaker says how its predecessor on the node released (or why it did not).
      const handOvers = pods(cluster().kubectl, metallbNamespace, speakerSelector).filter((p) => !oldSpeakers.has(p.metadata.name)).map((p) => {
        const lines = kubectl(["logs", p.metadata.name, "-n", metallbNamespace]).split("\n").filter((l) => l.includes("hand-over"))
        return `${p.spec.nodeName}: ${lines.map((l) => /hand-over: (.*?)(?:"|$)/.exec(l)?.[1] ?? l).join("; ") || "no hand-over logged"}`
      })
      console.log(`speaker rollout (--log-level=${level}) in ${(rolledMs / 1000).toFixed(1)} s: ${attempts.length} requests every 20 ms, ${failed.length} failed` +
        `${failed.length === 0 ? "" : ` (${failed.slice(0, 8).map((f) => `${f.t0 - started} ms, port ${f.localPort ?? "?"}: ${f.error}`).join("; ")}; longest outage ${longestOutageMs} ms)`}` +
        `; fewest BGP next hops at the router: ${fewestHops} of ${cluster().nodes.length}; the client sent ${l2}'s packets to ${[...announcers].join(", ")}` +
        `\n  ${handOvers.join("\n  ")}`)
      // Every node's new speaker took over from the old one on the node (the address did not have to move).
      expect(handOvers.filter((line) => line.includes("released its sockets"))).toHaveLength(cluster().nodes.length)
      // Issue 14: 0 failed requests for the Layer 2 Service. The hand-over keeps the address on its node,
      // so no connection is reset; the failures once seen here were resets by another node after the
      // client's neighbour entry moved to it (its speaker, starved of CPU by the machine's other
      // processes, had missed membership probes), which host-state.ts's node CPU weight removed.
      expect(failed.map((f) => `${f.t0 - started} ms: ${f.error ?? "not 200"}`)).toEqual([])
      expect(fewestHops).toBeGreaterThan(0)
      expect(addresses()).toEqual(before)
    }, 300_000)

    it("keeps every Service's address through a controller rollout and a leader change", async () => {
      const before = addresses()
      const changes: Array<string> = []
      let watching = true
      const watch = (async () => {
        while (watching) {
          const now = addresses()
          if (JSON.stringify(now) !== JSON.stringify(before)) changes.push(JSON.stringify(now))
          await sleep(500)
        }
      })()
      const leader = () => kubectl(["get", "lease", "metallb-ts-controller", "-n", metallbNamespace, "-o", "jsonpath={.spec.holderIdentity}"]).trim()
      // The Lease may still name a pod the rollout removed until a new replica takes it over: a leader
      // counts only once its pod is one of the Deployment's current pods.
      const running = (name: string) => pods(cluster().kubectl, metallbNamespace, controllerSelector)
        .some((p) => p.metadata.name === name && p.metadata.deletionTimestamp === undefined)
      let first = ""
      let second = ""
      let fresh = ""
      try {
        kubectl(["patch", "deployment/controller", "-n", metallbNamespace, "--type=merge", "-p",
          JSON.stringify({ spec: { template: { metadata: { annotations: { "mlbt-test/restarted": String(Date.now()) } } } } })])
        await waitRollout(cluster().kubectl, "deployment/controller", metallbNamespace, controllerSelector, cluster().kubeletTail, 180_000)
        first = await until("a leader among the rolled pods", async () => {
          const holder = leader()
          return holder !== "" && running(holder) ? holder : undefined
        }, { timeoutMs: 90_000, intervalMs: 500 })
        kubectl(["delete", "pod", first, "-n", metallbNamespace, "--wait=false"])
        second = await until("another leader", async () => {
          const holder = leader()
          return holder !== "" && holder !== first && running(holder) ? holder : undefined
        }, { timeoutMs: 90_000, intervalMs: 500 })
        // A new Service is served by the new leader: the controller works, and the old ones kept their addresses.
        kubectl(["apply", "-f", "-"], lbServiceYaml({ name: "upd-after", app: "upd-web", pool: "l2", families: "IPv4" }))
        ;[fresh = ""] = await waitIngress(cluster().kubectl, "upd-after", 1)
      } finally {
        // Stop the watch before anything else (afterAll deletes the Services it reads).
        watching = false
        await watch
      }
      kubectl(["delete", "service", "upd-after"])
      console.log(`controller rolled, leader ${first} deleted, ${second} leads; addresses ${JSON.stringify(before)} unchanged; upd-after got ${fresh}`)
      expect(changes).toEqual([])
      expect(addresses()).toEqual(before)
    }, 400_000)

    it("prints the memory of the controller and the speakers", () => {
      const lines = metallbMemory(cluster())
      console.log(`metallb-ts pods' memory (cgroup ${cgroupVersion()}):\n  ${lines.join("\n  ")}`)
      expect(lines.filter((l) => l.includes("MiB in use"))).toHaveLength(2 + cluster().nodes.length)
    })
  })
}
