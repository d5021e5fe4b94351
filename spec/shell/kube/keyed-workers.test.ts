// The controller's write queue: the latest job per key wins (merged with the one it replaces), one key
// is never worked on twice at once, other keys proceed meanwhile, and clear() drops what has not started.
import { Deferred, Effect, Logger } from "effect"
import { describe, expect, it } from "vitest"
import { keyedWorkers } from "../../../shell/kube/keyed-workers.ts"

const settle = Effect.sleep("20 millis")
const quiet = Logger.layer([])

describe("keyedWorkers", () => {
  it("runs the latest job per key, merged, one at a time per key, others in parallel", async () => {
    const log: Array<string> = []
    let running = 0
    let maxSameKey = 0
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const work = yield* keyedWorkers<ReadonlyArray<string>>(4, (key, job) =>
        Effect.gen(function* () {
          if (key === "a") {
            running += 1
            maxSameKey = Math.max(maxSameKey, running)
          }
          log.push(`${key}:${job.join("+")}`)
          if (key === "a" && job.includes("1")) yield* Deferred.await(gate)
          if (key === "a") running -= 1
        }), (older, newer) => [...older, ...newer])
      work.offer("a", ["1"])
      yield* settle
      // "a" is busy: these wait and merge; "b" goes ahead meanwhile.
      work.offer("a", ["2"])
      work.offer("a", ["3"])
      work.offer("b", ["x"])
      yield* settle
      expect(log).toEqual(["a:1", "b:x"])
      expect(work.size()).toBe(2) // a:1 running, a:2+3 waiting
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      expect(log).toEqual(["a:1", "b:x", "a:2+3"])
      expect(work.size()).toBe(0)
    })))
    expect(maxSameKey).toBe(1)
  })

  it("clear() drops jobs that have not started", async () => {
    const log: Array<string> = []
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const work = yield* keyedWorkers<string>(1, (key, job) =>
        Effect.gen(function* () {
          log.push(`${key}:${job}`)
          if (job === "first") yield* Deferred.await(gate)
        }))
      work.offer("a", "first")
      yield* settle
      work.offer("b", "second")
      work.offer("c", "third")
      work.clear()
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      work.offer("d", "fourth")
      yield* settle
    })))
    expect(log).toEqual(["a:first", "d:fourth"])
  })

  it("keeps working after a job fails", async () => {
    const log: Array<string> = []
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const work = yield* keyedWorkers<string>(1, (key, job) =>
        job === "boom" ? Effect.die(new Error("boom")) : Effect.sync(() => log.push(`${key}:${job}`)))
      work.offer("a", "boom")
      work.offer("b", "fine")
      yield* settle
    }).pipe(Effect.provide(quiet))))
    expect(log).toEqual(["b:fine"])
  })
})
