import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as IntervalSet from "../../../core/net/interval-set.ts"

const universe = 200
type Op = { readonly kind: "add" | "remove"; readonly lo: number; readonly hi: number }

const opArb: fc.Arbitrary<Op> = fc
  .record({ kind: fc.constantFrom("add" as const, "remove" as const), a: fc.nat(universe - 1), len: fc.nat(20) })
  .map(({ kind, a, len }) => ({ kind, lo: a, hi: Math.min(universe - 1, a + len) }))

const apply = (ops: ReadonlyArray<Op>) => {
  let set = IntervalSet.empty
  const model = new Set<number>()
  for (const op of ops) {
    set = op.kind === "add" ? IntervalSet.add(set, BigInt(op.lo), BigInt(op.hi)) : IntervalSet.remove(set, BigInt(op.lo), BigInt(op.hi))
    for (let x = op.lo; x <= op.hi; x++) op.kind === "add" ? model.add(x) : model.delete(x)
  }
  return { set, model }
}

const runs = { numRuns: 1000 }

describe("IntervalSet", () => {
  it("merges adjacent and overlapping intervals, splits on removal", () => {
    let set = IntervalSet.add(IntervalSet.empty, 10n, 19n)
    set = IntervalSet.add(set, 20n, 29n)
    set = IntervalSet.add(set, 5n, 12n)
    expect([...IntervalSet.intervals(set)]).toEqual([{ lo: 5n, hi: 29n }])
    set = IntervalSet.remove(set, 15n, 16n)
    expect([...IntervalSet.intervals(set)]).toEqual([{ lo: 5n, hi: 14n }, { lo: 17n, hi: 29n }])
    expect(IntervalSet.size(set)).toBe(23n)
    expect(IntervalSet.firstAbsent(set, 5n, 100n)).toBe(15n)
    expect(IntervalSet.firstAbsent(set, 17n, 29n)).toBeUndefined()
    expect(IntervalSet.firstPresent(set, 15n, 100n)).toBe(17n)
  })

  it("holds a whole IPv6 /64 as one interval", () => {
    const lo = 0x20010db8000000000000000000000000n
    const hi = lo + (1n << 64n) - 1n
    const set = IntervalSet.add(IntervalSet.empty, lo, hi)
    expect(IntervalSet.size(set)).toBe(1n << 64n)
    expect(IntervalSet.intervalCount(set)).toBe(1)
    expect(IntervalSet.firstAbsent(IntervalSet.remove(set, lo + 7n, lo + 7n), lo, hi)).toBe(lo + 7n)
  })

  it("equals a brute-force model after any sequence of adds and removes (property)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const { set, model } = apply(ops)
        expect(IntervalSet.size(set)).toBe(BigInt(model.size))
        for (let x = 0; x < universe; x++) expect(IntervalSet.has(set, BigInt(x))).toBe(model.has(x))
        const list = [...IntervalSet.intervals(set)]
        expect(IntervalSet.intervalCount(set)).toBe(list.length)
        // Canonical form: sorted, disjoint and never adjacent.
        for (let i = 1; i < list.length; i++) expect(list[i]!.lo).toBeGreaterThan(list[i - 1]!.hi + 1n)
      }),
      runs,
    )
  })

  it("finds the first absent and first present value like a linear scan (property)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), fc.nat(universe - 1), fc.nat(universe - 1), (ops, a, b) => {
        const { set, model } = apply(ops)
        const [from, to] = a <= b ? [a, b] : [b, a]
        let absent: bigint | undefined
        let present: bigint | undefined
        for (let x = from; x <= to; x++) {
          if (absent === undefined && !model.has(x)) absent = BigInt(x)
          if (present === undefined && model.has(x)) present = BigInt(x)
        }
        expect(IntervalSet.firstAbsent(set, BigInt(from), BigInt(to))).toBe(absent)
        expect(IntervalSet.firstPresent(set, BigInt(from), BigInt(to))).toBe(present)
      }),
      runs,
    )
  })

  it("is persistent: an operation never changes the set it was given (property)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 20 }), opArb, (ops, extra) => {
        const { set } = apply(ops)
        const before = [...IntervalSet.intervals(set)]
        extra.kind === "add" ? IntervalSet.add(set, BigInt(extra.lo), BigInt(extra.hi)) : IntervalSet.remove(set, BigInt(extra.lo), BigInt(extra.hi))
        expect([...IntervalSet.intervals(set)]).toEqual(before)
      }),
      runs,
    )
  })

  it("stays shallow: 100k sequential single-address adds keep logarithmic depth", () => {
    let set = IntervalSet.empty
    // Every other address, so nothing merges and the tree really holds 100k intervals.
    for (let i = 0n; i < 100_000n; i++) set = IntervalSet.add(set, 2n * i, 2n * i)
    const depth = (tree: unknown): number => {
      const n = tree as { left?: unknown; right?: unknown } | undefined
      return n === undefined ? 0 : 1 + Math.max(depth(n.left), depth(n.right))
    }
    expect(IntervalSet.intervalCount(set)).toBe(100_000)
    expect(depth(set.root)).toBeLessThan(60)
  })
})
