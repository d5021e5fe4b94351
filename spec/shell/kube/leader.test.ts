// Leader election's shell on KubeApi's in-memory layer: while leading, a renewal is one write and no
// read (client-go's fast path), and a Lease changed by someone else is read again and followed.
import type { V1Lease } from "@kubernetes/client-node"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { FakeKube, KubeApi, resources } from "../../../shell/kube/kube-api.ts"
import { electLeader } from "../../../shell/kube/leader.ts"

const ref = { namespace: "metallb-system", name: "controller" }
const options = { ...ref, identity: "me", leaseDurationSeconds: 1, renewDeadlineMs: 400, retryPeriodMs: 20, renewIntervalMs: 20 }

/** Polls `check` every 10 ms until it holds (at most 10 s). */
const until = (what: string, check: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1_000; i++) {
      if (check()) return
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

describe("electLeader on KubeApi.layerTest", () => {
  it("renews with one write and no read per round while leading, and follows a holder that took the Lease", async () => {
    const fake = new FakeKube()
    let reads = 0
    const counting = Layer.succeed(KubeApi, KubeApi.of({ ...fake.api, get: (type, r) => Effect.suspend(() => {
      reads += 1
      return fake.api.get(type, r)
    }) }))
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const leading = yield* electLeader(options)
      yield* until("leading", () => Effect.runSync(leading))
      const readsBefore = reads
      const writesBefore = fake.writes.length
      yield* Effect.sleep("600 millis")
      expect(Effect.runSync(leading)).toBe(true)
      const renewals = fake.writes.slice(writesBefore)
      expect(renewals.length).toBeGreaterThan(5)
      expect(new Set(renewals.map((w) => `${w.operation} ${w.resource} ${w.object}`))).toEqual(new Set(["replace leases metallb-system/controller"]))
      expect(reads).toBe(readsBefore)
      // Another replica takes the Lease: our next renewal is a conflict, the Lease is read again, we follow.
      const lease = fake.objects<V1Lease>(resources.leases, ref.namespace)[0] as V1Lease
      fake.put(resources.leases, { ...lease, spec: { ...lease.spec, holderIdentity: "other" } })
      yield* until("following the other holder", () => !Effect.runSync(leading))
      expect(reads).toBeGreaterThan(readsBefore)
      expect(fake.objects<V1Lease>(resources.leases, ref.namespace)[0]?.spec?.holderIdentity).toBe("other")
    }).pipe(Effect.provide(counting))))
  })

  it("while renewals succeed, renews at the renew interval, not the retry period", async () => {
    const fake = new FakeKube()
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const leading = yield* electLeader({ ...options, renewIntervalMs: 150 })
      yield* until("leading", () => Effect.runSync(leading))
      const writesBefore = fake.writes.length
      yield* Effect.sleep("600 millis")
      expect(Effect.runSync(leading)).toBe(true)
      // 600 ms at one renewal per 150 ms: about 4 (a retry period of 20 ms would make about 30).
      const renewals = fake.writes.length - writesBefore
      expect(renewals).toBeGreaterThanOrEqual(2)
      expect(renewals).toBeLessThanOrEqual(5)
    }).pipe(Effect.provide(Layer.succeed(KubeApi, fake.api)))))
  })
})
