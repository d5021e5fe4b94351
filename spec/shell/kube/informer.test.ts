// The informer wrapper's timing on a virtual clock (Effect's TestClock): a failing list is restarted
// after a doubling, capped backoff; a success resets the backoff; closing the scope cancels a pending
// restart. Against the real API server: informer.apiserver.test.ts.
import type { KubernetesObject, V1Service } from "@kubernetes/client-node"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Exit, Scope } from "effect"
import { TestClock } from "effect/testing"
import { watchResource, watchSource } from "../../../shell/kube/informer.ts"
import { FakeKube, KubeApi, resources, type WatchSource } from "../../../shell/kube/kube-api.ts"

/** A list+watch whose failures the test triggers: counts starts and stops. */
const controllableSource = () => {
  const handlers = new Map<string, Array<(value?: unknown) => void>>()
  const fire = (verb: string, value?: unknown) => {
    for (const h of handlers.get(verb) ?? []) h(value)
  }
  const state = { starts: 0, stops: 0, failStarts: 0 }
  const source = {
    on: (verb: string, cb: (value?: unknown) => void) => void handlers.set(verb, [...(handlers.get(verb) ?? []), cb]),
    off: () => undefined,
    start: async () => {
      state.starts += 1
      if (state.failStarts > 0) {
        state.failStarts -= 1
        const error = new Error("list failed")
        fire("error", error)
        throw error
      }
    },
    stop: async () => {
      state.stops += 1
    },
    list: () => [],
    get: () => undefined,
  }
  return { source: source as unknown as WatchSource<KubernetesObject>, state, failWatch: () => fire("error", new Error("watch dropped")) }
}

/** Advances virtual time to `atMs` (from the clock's current time). */
const advanceTo = (atMs: number) => Effect.gen(function* () {
  const now = yield* Clock.currentTimeMillis
  yield* TestClock.adjust(atMs - now)
})

describe("watchSource on a virtual clock", () => {
  it.effect("restarts a failing list after 100, 200, 400 and 400 ms (capped), then syncs", () => {
    const fake = new FakeKube()
    fake.put(resources.services, { metadata: { name: "web", namespace: "ns" } } as KubernetesObject)
    fake.failNext("list", "services", 403, "Forbidden", 4)
    return Effect.gen(function* () {
      const t0 = yield* Clock.currentTimeMillis
      const watched = yield* watchResource<V1Service>("services", resources.services, { initialBackoffMs: 100, maxBackoffMs: 400 })
      let syncedAtMs: number | undefined
      yield* Effect.forkScoped(watched.synced.pipe(Effect.andThen(Clock.currentTimeMillis), Effect.map((t) => { syncedAtMs = t - t0 })))
      const errorsAt: Array<[number, number]> = []
      for (const atMs of [0, 99, 100, 299, 300, 699, 700, 1_099, 1_100]) {
        yield* advanceTo(t0 + atMs)
        errorsAt.push([atMs, watched.errorCount()])
      }
      expect(errorsAt).toEqual([[0, 1], [99, 1], [100, 2], [299, 2], [300, 3], [699, 3], [700, 4], [1_099, 4], [1_100, 4]])
      yield* Effect.yieldNow
      expect(syncedAtMs).toBe(1_100)
      expect(watched.list().map((s) => s.metadata?.name)).toEqual(["web"])
    }).pipe(Effect.provide(KubeApi.layerTest(fake)))
  })

  it.effect("a success resets the backoff: a later failure is retried after the initial delay again", () =>
    Effect.gen(function* () {
      const { source, state, failWatch } = controllableSource()
      state.failStarts = 2
      yield* watchSource("services", source, { initialBackoffMs: 100, maxBackoffMs: 1_000 })
      yield* TestClock.adjust(300) // starts at 0 (fails), 100 (fails), 300 (succeeds)
      expect(state.starts).toBe(3)
      failWatch()
      yield* TestClock.adjust(99)
      expect(state.starts).toBe(3)
      yield* TestClock.adjust(1)
      expect(state.starts).toBe(4)
    }))

  it.effect("closing the scope cancels a pending restart and stops the informer", () =>
    Effect.gen(function* () {
      const { source, state } = controllableSource()
      state.failStarts = 1
      const scope = yield* Scope.make()
      const watched = yield* watchSource("services", source, { initialBackoffMs: 100 }).pipe(Scope.provide(scope))
      yield* TestClock.adjust(50)
      expect(watched.errorCount()).toBe(1)
      yield* Scope.close(scope, Exit.void)
      expect(state.stops).toBe(1)
      yield* TestClock.adjust(10_000)
      expect(state.starts).toBe(1)
    }))

  it.effect("caches objects without their managedFields, from the list and from the watch", () => {
    const fake = new FakeKube()
    const managed = [{ manager: "kubectl", operation: "Update", apiVersion: "v1", fieldsType: "FieldsV1", fieldsV1: { "f:spec": {} } }]
    fake.put(resources.services, { metadata: { name: "listed", namespace: "ns", managedFields: managed } } as KubernetesObject)
    return Effect.gen(function* () {
      const watched = yield* watchResource<V1Service>("services", resources.services)
      yield* watched.synced
      fake.put(resources.services, { metadata: { name: "watched", namespace: "ns", managedFields: managed } } as KubernetesObject)
      fake.put(resources.services, { metadata: { name: "listed", namespace: "ns", labels: { v: "2" }, managedFields: managed } } as KubernetesObject)
      for (let i = 0; i < 100 && watched.list().length < 2; i++) yield* Effect.yieldNow
      const cached = watched.list()
      expect(cached.map((s) => s.metadata?.name).sort()).toEqual(["listed", "watched"])
      for (const s of cached) expect(s.metadata).not.toHaveProperty("managedFields")
      expect(cached.find((s) => s.metadata?.name === "listed")?.metadata?.labels).toEqual({ v: "2" })
    }).pipe(Effect.provide(KubeApi.layerTest(fake)), Effect.scoped)
  })
})
