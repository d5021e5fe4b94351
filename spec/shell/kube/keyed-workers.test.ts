// The controller's write queue on a virtual clock (Effect's TestClock): jobs take virtual time, so the
// tests see exactly when each one starts and ends. The latest job per key wins (merged with the one it
// replaces), one key is never worked on twice at once, other keys proceed meanwhile up to the number
// of workers, and clear() drops what has not started.
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Logger } from "effect"
import { TestClock } from "effect/testing"
import { keyedWorkers } from "../../../shell/kube/keyed-workers.ts"

const jobMs = 100

/** Work that takes `jobMs` of virtual time and logs when it starts and ends (ms since the test began). */
const timedWork = (t0: number, log: Array<string>, label: (key: string, job: ReadonlyArray<string>) => string = (key, job) => `${key}:${job.join("+")}`) =>
  (key: string, job: ReadonlyArray<string>) => Effect.gen(function* () {
    const at = () => Clock.currentTimeMillis.pipe(Effect.map((t) => t - t0))
    log.push(`${yield* at()} start ${label(key, job)}`)
    yield* Effect.sleep(jobMs)
    log.push(`${yield* at()} end ${label(key, job)}`)
  })

describe("keyedWorkers", () => {
  it.effect("runs the latest job per key, merged, one at a time per key, other keys meanwhile", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const t0 = yield* Clock.currentTimeMillis
      const work = yield* keyedWorkers<ReadonlyArray<string>>(4, timedWork(t0, log), (older, newer) => [...older, ...newer])
      work.offer("a", ["1"])
      yield* TestClock.adjust(10)
      // "a" is busy: these wait and merge; "b" goes ahead meanwhile.
      work.offer("a", ["2"])
      work.offer("a", ["3"])
      work.offer("b", ["x"])
      yield* TestClock.adjust(10)
      expect(log).toEqual(["0 start a:1", "10 start b:x"])
      expect(work.size()).toBe(3) // a:1 and b:x running, a:2+3 waiting
      yield* TestClock.adjust(200)
      expect(log).toEqual(["0 start a:1", "10 start b:x", "100 end a:1", "100 start a:2+3", "110 end b:x", "200 end a:2+3"])
      expect(work.size()).toBe(0)
    }))

  it.effect("never runs more jobs at once than it has workers", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const t0 = yield* Clock.currentTimeMillis
      const work = yield* keyedWorkers<ReadonlyArray<string>>(2, timedWork(t0, log, (key) => key))
      for (const key of ["a", "b", "c", "d", "e"]) work.offer(key, [])
      yield* TestClock.adjust(3 * jobMs)
      expect(log.filter((l) => l.includes("start"))).toEqual(["0 start a", "0 start b", "100 start c", "100 start d", "200 start e"])
      expect(log.at(-1)).toBe("300 end e")
    }))

  it.effect("clear() drops jobs that have not started", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const t0 = yield* Clock.currentTimeMillis
      const work = yield* keyedWorkers<ReadonlyArray<string>>(1, timedWork(t0, log))
      work.offer("a", ["first"])
      yield* TestClock.adjust(10)
      work.offer("b", ["second"])
      work.offer("c", ["third"])
      work.clear()
      expect(work.size()).toBe(1) // a:first still runs to its end
      yield* TestClock.adjust(200)
      work.offer("d", ["fourth"])
      yield* TestClock.adjust(jobMs)
      expect(log).toEqual(["0 start a:first", "100 end a:first", "210 start d:fourth", "310 end d:fourth"])
    }))

  it.effect("keeps working after a job fails", () =>
    Effect.gen(function* () {
      const log: Array<string> = []
      const t0 = yield* Clock.currentTimeMillis
      const timed = timedWork(t0, log)
      const work = yield* keyedWorkers<string>(1, (key, job) => (job === "boom" ? Effect.die(new Error("boom")) : timed(key, [job])))
      work.offer("a", "boom")
      work.offer("b", "fine")
      yield* TestClock.adjust(jobMs)
      expect(log).toEqual(["0 start b:fine", "100 end b:fine"])
      expect(work.size()).toBe(0)
    }).pipe(Effect.provide(Logger.layer([]))))
})
