// `metallb-ts plan` against the real API server and the real controller process: the plan's prediction
// for a configuration change is compared with what the controller then does, Service by Service
// (addresses in status order and the pool annotation), and planning the applied file again predicts
// nothing. The change covers a pool that shrinks (its upper addresses leave), a pool split off it
// (addresses re-homed without moving), avoidBuggyIPs on a pinned pool (.0 moves), a requested address
// and a pair sharing one address.
//
// kubectl applies a file's objects one at a time, and the controller may run a pass between two of
// them; a prediction is for the whole file. The file is therefore ordered so that every intermediate
// configuration is either invalid (kept out by the controller: main-high overlaps main until main
// shrinks) or touches only Services no later object touches (extra).
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { DiscoveryV1Api } from "@kubernetes/client-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { apiServerSkipReason } from "../support/apiserver.ts"
import { applyYaml, type ControllerTestbed, poolYaml, startControllerTestbed } from "../support/controller-process.ts"
import { eventually } from "../support/netns.ts"
import { skipUnlessCi } from "../support/skip.ts"
import { predicted, runPlan, servicesIn } from "./plan-support.ts"

const ns = "planned"
const l2Yaml = "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: l2\n  namespace: metallb-system\nspec:\n  ipAddressPools: [main, main-high]\n"
// The extra pool is announced over BGP (the peer is an object only: no speaker runs in this testbed).
const bgpYaml = [
  "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: router\n  namespace: metallb-system\nspec:\n  myASN: 64500\n  peerASN: 64501\n  peerAddress: 203.0.113.1\n",
  "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: extra\n  namespace: metallb-system\nspec:\n  ipAddressPools: [extra]\n  localPref: 150\n",
]
const nodes = ["node-a", "node-b"]

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("metallb-ts plan: predicts exactly what the controller does", () => {
  let bed: ControllerTestbed
  const dir = mkdtempSync(join(tmpdir(), "mlbt-plan-"))

  beforeAll(async () => {
    bed = await startControllerTestbed()
    applyYaml(bed.api, [poolYaml("main", ["192.0.2.0/28"]), poolYaml("extra", ["198.51.100.0/29"], "  autoAssign: false\n"), l2Yaml, ...bgpYaml].join("---\n"))
    // Nodes and endpoints as objects only, for the announcements the plan derives (speakers' decisions).
    for (const name of nodes) await bed.core.createNode({ body: { metadata: { name, labels: { "kubernetes.io/hostname": name } } } })
    await bed.core.createNamespace({ body: { metadata: { name: ns } } })
    await bed.start("controller")
  }, 120_000)

  afterAll(async () => {
    await bed?.stop()
  })

  let created = 0
  const create = async (name: string, annotations: Record<string, string> = {}, ports = [{ port: 80, protocol: "TCP" }]) => {
    await bed.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name, annotations }, spec: { type: "LoadBalancer", selector: { app: name }, ports } },
    })
    const node = nodes[created++ % nodes.length] ?? "node-a"
    await bed.api.kubeConfig.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({
      namespace: ns,
      body: {
        metadata: { name: `${name}-1`, labels: { "kubernetes.io/service-name": name } },
        addressType: "IPv4",
        endpoints: [{ addresses: ["10.244.0.10"], nodeName: node, conditions: { ready: true, serving: true } }],
      },
    })
  }

  it("applies a change to three pools: every Service's addresses and pool as the plan said, and nothing more to plan", async () => {
    for (let i = 0; i < 9; i++) await create(`s${i}`)
    await create("asked", { "metallb.io/loadBalancerIPs": "192.0.2.14" })
    await create("pair-tcp", { "metallb.io/allow-shared-ip": "pair" }, [{ port: 53, protocol: "TCP" }])
    await create("pair-udp", { "metallb.io/allow-shared-ip": "pair" }, [{ port: 53, protocol: "UDP" }])
    await create("x0", { "metallb.io/address-pool": "extra" })
    await create("x1", { "metallb.io/address-pool": "extra" })
    const live = await eventually("every Service addressed", async () => {
      const services = await servicesIn(bed.core, ns)
      return services.size === 14 && [...services.values()].every((s) => s.ingress !== "" && s.pool !== undefined) ? services : undefined
    }, { timeoutMs: 60_000 })
    const file = join(dir, "change.yaml")
    const change = [
      poolYaml("extra", ["198.51.100.0/29"], "  autoAssign: false\n  avoidBuggyIPs: true\n"),
      poolYaml("main-high", ["192.0.2.12/30"]),
      poolYaml("main", ["192.0.2.0/29"]),
    ].join("---\n")
    writeFileSync(file, change)

    const plan = runPlan(bed.api, [file])
    expect(plan.json.valid).toBe(true)
    expect(plan.status).toBe(2)
    expect(plan.json.exitCode).toBe(2)
    // Every change is the new configuration's, none the controller would make anyway.
    expect(plan.json.services.filter((c) => c.alreadyPending)).toEqual([])
    const reasons = new Set(plan.json.services.flatMap((c) => c.reasons.map((r) => r._tag)))
    expect(reasons).toEqual(new Set(["AvoidBuggyIPs", "PoolShrank", "AllocatedFrom", "PoolSplit"]))
    // The moved addresses move their announcements: Layer 2 for main's, BGP (from both nodes) for extra's.
    const moved = plan.json.services.filter((c) => c.kind === "moves")
    const gone = plan.json.announcements.disappearing.map((a) => a.target.replace(/\/32$/, ""))
    const come = plan.json.announcements.appearing.map((a) => a.target.replace(/\/32$/, ""))
    expect(new Set(gone)).toEqual(new Set(moved.flatMap((c) => c.before)))
    expect(new Set(come)).toEqual(new Set(moved.flatMap((c) => c.after)))
    expect(plan.json.announcements.appearing.filter((a) => a.protocol === "bgp").map((a) => [a.node, a.peer, a.localPref])).toEqual([["node-a", "router", 150], ["node-b", "router", 150]])
    const expected = predicted(live, plan.json)
    console.log(`plan:\n${plan.text}`)

    applyYaml(bed.api, change)
    const sameAsPredicted = async () => {
      const now = await servicesIn(bed.core, ns)
      return JSON.stringify([...now].sort()) === JSON.stringify([...expected].sort()) ? now : undefined
    }
    const settled = await eventually("the controller's changes", sameAsPredicted, { timeoutMs: 60_000 }).catch(async () => servicesIn(bed.core, ns))
    expect(Object.fromEntries(settled)).toEqual(Object.fromEntries(expected))
    // And it stays there (the controller does not take a second step the plan did not see).
    await sleep(3_000)
    expect(Object.fromEntries(await servicesIn(bed.core, ns))).toEqual(Object.fromEntries(expected))

    const again = runPlan(bed.api, [file])
    expect(again.json.services).toEqual([])
    expect(again.status).toBe(0)
  }, 300_000)
})
