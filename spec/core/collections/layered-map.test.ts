// LayeredMap, the speaker's immutable map whose next version costs what changed: for random sequences of
// batches of sets and removals, every version holds exactly what a plain Map holds after the same
// operations (also after later versions were made from it, and across the layer's folding into a new
// base), and iterates in a Map's order for keys never removed. The check is shown to fire on a model
// that forgets one removal.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { LayeredMap } from "../../../core/collections/layered-map.ts"

type Op = readonly [key: number, value: number | undefined]

const batch = fc.array(fc.tuple(fc.nat({ max: 150 }), fc.option(fc.nat({ max: 9 }), { nil: undefined })), { maxLength: 40 })

/** Every version built from `batches`, beside the plain Map the same operations make (`model` applies one batch to it). */
const versions = (batches: ReadonlyArray<ReadonlyArray<Op>>, model: (map: Map<number, number>, ops: ReadonlyArray<Op>) => void) => {
  let layered = LayeredMap.of<number, number>([])
  let plain = new Map<number, number>()
  const all: Array<{ readonly layered: LayeredMap<number, number>; readonly plain: ReadonlyMap<number, number> }> = [{ layered, plain }]
  for (const ops of batches) {
    layered = layered.with(ops)
    plain = new Map(plain)
    model(plain, ops)
    all.push({ layered, plain })
  }
  return all
}

const applyAll = (map: Map<number, number>, ops: ReadonlyArray<Op>) => {
  for (const [k, v] of ops) {
    if (v === undefined) map.delete(k)
    else map.set(k, v)
  }
}

/** The layered version holds what the plain map holds: size, lookups, and the entries. */
const same = (layered: ReadonlyMap<number, number>, plain: ReadonlyMap<number, number>): boolean => {
  if (layered.size !== plain.size) return false
  for (let k = 0; k <= 150; k++) if (layered.get(k) !== plain.get(k) || layered.has(k) !== plain.has(k)) return false
  const sorted = (m: ReadonlyMap<number, number>) => JSON.stringify([...m].sort((a, b) => a[0] - b[0]))
  return sorted(layered) === sorted(plain) && [...layered.keys()].length === plain.size && [...layered.values()].length === plain.size
}

const everyVersionSame = (batches: ReadonlyArray<ReadonlyArray<Op>>, model: typeof applyAll): boolean =>
  versions(batches, model).every(({ layered, plain }) => same(layered, plain))

describe("LayeredMap", () => {
  it("every version holds what a plain Map holds after the same sets and removals, older versions untouched", () => {
    fc.assert(fc.property(fc.array(batch, { maxLength: 30 }), (batches) => everyVersionSame(batches, applyAll)), { numRuns: 300 })
  })

  it("iterates in insertion order, a replaced value in its key's place", () => {
    const a = LayeredMap.of([["x", 1], ["y", 2]]).with([["z", 3], ["x", 4]])
    expect([...a]).toEqual([["x", 4], ["y", 2], ["z", 3]])
    const b = a.with([["y", undefined], ["w", 5]])
    expect([...b]).toEqual([["x", 4], ["z", 3], ["w", 5]])
    expect(b.size).toBe(3)
    expect([...a]).toEqual([["x", 4], ["y", 2], ["z", 3]])
    // Removing what is not there, or setting nothing, gives the same map back.
    expect(b.with([["y", undefined]])).toBe(b)
    expect(b.with([])).toBe(b)
  })

  it("folds its layer into a new base when the layer outgrows the map, keeping the contents", () => {
    let m = LayeredMap.of(Array.from({ length: 10_000 }, (_, i) => [i, i] as const))
    for (let i = 0; i < 2_000; i++) m = m.with([[i * 3, -i]])
    expect(m.size).toBe(10_000)
    expect(m.get(3 * 1_999)).toBe(-1_999)
    expect(m.get(1)).toBe(1)
  })

  it("the check sees a wrong map: against a model that forgets one removal, it fails", () => {
    let forgot = false
    const forgetful = (map: Map<number, number>, ops: ReadonlyArray<Op>) => {
      for (const [k, v] of ops) {
        if (v === undefined && map.has(k) && !forgot) forgot = true
        else if (v === undefined) map.delete(k)
        else map.set(k, v)
      }
    }
    const result = fc.check(fc.property(fc.array(batch, { maxLength: 30 }), (batches) => {
      forgot = false
      return everyVersionSame(batches, forgetful)
    }), { numRuns: 300 })
    expect(result.failed).toBe(true)
  })
})
