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
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { apiServerSkipReason } from "../support/apiserver.ts"
import { applyYaml, type ControllerTestbed, poolYaml, startControllerTestbed } from "../support/controller-process.ts"
import { eventually } from "../support/netns.ts"
import { skipUnlessCi } from "../support/skip.ts"
import { predicted, runPlan, servicesIn } from "./plan-support.ts"

const ns = "planned"
const l2Yaml = "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: l2\n  namespace: metallb-system\n"

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("metallb-ts plan: predicts exactly what the controller does", () => {
  let bed: ControllerTestbed
  const dir = mkdtempSync(join(tmpdir(), "mlbt-plan-"))

  beforeAll(async () => {
    bed = await startControllerTestbed()
    applyYaml(bed.api, [poolYaml("main", ["192.0.2.0/28"]), poolYaml("extra", ["198.51.100.0/29"], "  autoAssign: false\n"), l2Yaml].join("---\n"))
    await bed.core.createNamespace({ body: { metadata: { name: ns } } })
    await bed.start("controller")
  }, 120_000)

  afterAll(async () => {
    await bed?.stop()
  })

  const create = (name: string, annotations: Record<string, string> = {}, ports = [{ port: 80, protocol: "TCP" }]) =>
    bed.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name, annotations }, spec: { type: "LoadBalancer", selector: { app: name }, ports } },
    })

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
