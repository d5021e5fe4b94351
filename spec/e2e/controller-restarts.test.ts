// Restarts against the real API server, the controller running as its ServiceAccount with the
// manifests' RBAC. 100 services (single-stack, dual-stack, shared, pool-annotated) through five
// controller restarts (SIGKILL, the first one while addresses are still being handed out): no
// address ever changes, watched continuously, not only compared at the end. Then kube-apiserver
// itself is killed and restarted: every watch breaks mid-stream, and the controller keeps working.
import { setTimeout as sleep } from "node:timers/promises"
import { makeInformer, type V1Service } from "@kubernetes/client-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { apiServerSkipReason } from "../support/apiserver.ts"
import { applyYaml, type ControllerProcess, type ControllerTestbed, ingressOf, poolYaml, startControllerTestbed } from "../support/controller-process.ts"
import { eventually } from "../support/netns.ts"
import { skipUnlessCi } from "../support/skip.ts"

const ns = "fleet"

describe.skipIf(skipUnlessCi(apiServerSkipReason()))("metallb-ts controller: restarts against the real API server", () => {
  let bed: ControllerTestbed
  let controller: ControllerProcess

  beforeAll(async () => {
    bed = await startControllerTestbed()
    applyYaml(bed.api, [
      poolYaml("main", ["192.0.2.0/24"]),
      poolYaml("dual", ["198.51.100.0/24", "2001:db8:2::/64"], "  autoAssign: false\n"),
    ].join("---\n"))
    await bed.core.createNamespace({ body: { metadata: { name: ns } } })
  }, 120_000)

  afterAll(async () => {
    await bed?.stop()
  })

  const serviceBody = (i: number): V1Service => {
    const kind = i % 4
    const annotations: Record<string, string> =
      kind === 1 ? { "metallb.io/address-pool": "dual" } : kind === 2 ? { "metallb.io/allow-shared-ip": `pair-${Math.floor(i / 8)}` } : {}
    return {
      metadata: { name: `svc-${i}`, annotations },
      spec: {
        type: "LoadBalancer",
        selector: { app: `svc-${i}` },
        // Sharing pairs differ in protocol so they may hold one address.
        ports: [{ port: 80, protocol: kind === 2 && i % 8 >= 4 ? "UDP" : "TCP" }],
        ...(kind === 1 ? { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv4", "IPv6"] } : {}),
      },
    }
  }
  const listIngress = async () =>
    new Map((await bed.core.listNamespacedService({ namespace: ns })).items.map((s) => [s.metadata?.name ?? "", ingressOf(s).join(",")]))

  it("keeps every one of 100 addresses through 5 controller restarts (SIGKILL), watched continuously", async () => {
    // Every status the API server ever shows for a service, in order.
    const history = new Map<string, Array<string>>()
    const informer = makeInformer(bed.api.kubeConfig, `/api/v1/namespaces/${ns}/services`, () => bed.core.listNamespacedService({ namespace: ns }))
    const record = (s: V1Service) => {
      const ips = ingressOf(s).join(",")
      const seen = history.get(s.metadata?.name ?? "") ?? []
      if (ips !== "" && seen[seen.length - 1] !== ips) seen.push(ips)
      history.set(s.metadata?.name ?? "", seen)
    }
    informer.on("add", record)
    informer.on("update", record)
    await informer.start()
    try {
      controller = await bed.start("controller-0")
      for (let i = 0; i < 100; i += 10) {
        await Promise.all(Array.from({ length: 10 }, (_, j) => bed.core.createNamespacedService({ namespace: ns, body: serviceBody(i + j) })))
      }
      // First restart while the controller is still handing addresses out.
      await eventually("some addresses", async () => ([...(await listIngress()).values()].filter(Boolean).length >= 10 ? true : undefined))
      for (let restart = 1; restart <= 5; restart++) {
        await controller.kill()
        // While it is down: one service goes, one arrives (its address must not be anyone else's).
        if (restart > 1) await bed.core.deleteNamespacedService({ name: `svc-${100 + restart - 1}`, namespace: ns })
        await bed.core.createNamespacedService({ namespace: ns, body: serviceBody(100 + restart) })
        controller = await bed.start(`controller-${restart}`)
        await eventually(`every service addressed after restart ${restart}`, async () => {
          const all = await listIngress()
          return [...all.values()].every((ips) => ips !== "") && all.has(`svc-${100 + restart}`) ? true : undefined
        }, { timeoutMs: 60_000 })
        await sleep(1_000)
      }
      const final = await listIngress()
      const originals = [...final].filter(([name]) => Number(name.slice(4)) < 100)
      expect(originals).toHaveLength(100)
      const changed = [...history].filter(([name, seen]) => Number(name.slice(4)) < 100 && seen.length !== 1)
      expect(changed, `address changes: ${JSON.stringify(changed)}`).toEqual([])
      // Dual-stack services hold one address per family; shared pairs hold one address between them.
      expect(final.get("svc-1")?.split(",")).toHaveLength(2)
      expect(final.get("svc-2")).toBe(final.get("svc-6"))
      // No two unshared services hold the same address.
      const owners = new Map<string, Array<string>>()
      for (const [name, ips] of final) for (const ip of ips.split(",")) owners.set(ip, [...(owners.get(ip) ?? []), name])
      const clashes = [...owners].filter(([, names]) => names.length > 1 && names.some((n) => Number(n.slice(4)) % 4 !== 2))
      expect(clashes).toEqual([])
    } finally {
      await informer.stop()
    }
  }, 300_000)

  it.each([
    { downMs: 0, what: "killed and restarted at once" },
    { downMs: 12_000, what: "away for 12 s (the 3 s Lease lapses)" },
  ])("keeps working after kube-apiserver is $what (watches broken mid-stream)", async ({ downMs }) => {
    const before = await listIngress()
    await bed.api.restartApiServer({ downMs })
    const name = `after-restart-${downMs}`
    await bed.core.createNamespacedService({ namespace: ns, body: { metadata: { name }, spec: { type: "LoadBalancer", selector: { app: name }, ports: [{ port: 80 }] } } })
    const [ip] = await eventually("an address for a service created after the API server restart", async () => {
      const ips = ingressOf(await bed.core.readNamespacedService({ name, namespace: ns }))
      return ips.length > 0 ? ips : undefined
    }, { timeoutMs: 90_000 })
    expect(ip).toMatch(/^192\.0\.2\./)
    expect(controller.child.exitCode).toBeNull()
    const after = await listIngress()
    for (const [service, ips] of before) expect(after.get(service), service).toBe(ips)
    expect([...before.values()]).not.toContain(ip)
    // A deletion after the restart is seen too: the freed address goes to the next service.
    const victim = [...before].find(([, ips]) => !ips.includes(",") && ips.startsWith("192.0.2.") && [...before.values()].filter((v) => v === ips).length === 1)
    if (victim === undefined) throw new Error("no unshared single-stack service to delete")
    await bed.core.deleteNamespacedService({ name: victim[0], namespace: ns })
    await bed.core.createNamespacedService({ namespace: ns, body: { metadata: { name: `${name}-next` }, spec: { type: "LoadBalancer", selector: { app: name }, ports: [{ port: 80 }] } } })
    const [next] = await eventually("the freed address reused", async () => {
      const ips = ingressOf(await bed.core.readNamespacedService({ name: `${name}-next`, namespace: ns }))
      return ips.length > 0 ? ips : undefined
    }, { timeoutMs: 30_000 })
    expect(next).toBe(victim[1])
  }, 180_000)
})
