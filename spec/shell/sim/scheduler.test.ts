import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Random } from "../../../shell/sim/random.ts"
import { Scheduler } from "../../../shell/sim/scheduler.ts"

describe("simulator foundations", () => {
  it("replays the same random stream from the same seed, and forks independent streams", () => {
    const draw = (seed: number) => { const r = new Random(seed); return Array.from({ length: 5 }, () => r.nextUint32()) }
    expect(draw(42)).toEqual(draw(42))
    expect(draw(42)).not.toEqual(draw(43))
    const a = new Random(7).fork("node-a").float()
    const b = new Random(7).fork("node-b").float()
    expect(a).not.toBe(b)
    const r = new Random(1)
    const counts = [0, 0, 0, 0]
    for (let i = 0; i < 40_000; i++) counts[r.int(4)]! += 1
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500)
  })

  it("delivers events in time order, ties in insertion order, and honours cancellation (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ delay: fc.nat(100), cancel: fc.boolean() }), { maxLength: 200 }), (items) => {
        const s = new Scheduler<number>()
        const handles = items.map((item, i) => s.after(item.delay, i))
        items.forEach((item, i) => { if (item.cancel) s.cancel(handles[i]!) })
        const seen: Array<number> = []
        for (let e = s.next(1_000); e !== undefined; e = s.next(1_000)) seen.push(e)
        const expected = items.map((item, i) => ({ ...item, i })).filter((x) => !x.cancel).sort((a, b) => a.delay - b.delay || a.i - b.i).map((x) => x.i)
        expect(seen).toEqual(expected)
      }),
      { numRuns: 1000 },
    )
  })

  it("advances the clock to the horizon when nothing is due", () => {
    const s = new Scheduler<string>()
    s.after(500, "later")
    expect(s.next(100)).toBeUndefined()
    expect(s.nowMs).toBe(100)
    expect(s.next(1_000)).toBe("later")
    expect(s.nowMs).toBe(500)
  })
})
