// Where two node selections meet. Without Nodes the answer comes from the selectors alone and must be
// sound: "cannot meet" only when no label map at all is selected by both (checked against random label
// maps, and shown to fire); with Nodes it is exactly a brute-force search of those nodes.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { nodeSetsMeet } from "../../../core/config/rules/node-sets.ts"
import { anyMatches, type LabelSelector, parseSelector, type Selector } from "../../../core/config/selector.ts"

const keys = ["rack", "zone", "role"]
const values = ["a", "b", "c"]
const requirement = fc.record({
  key: fc.constantFrom(...keys),
  operator: fc.constantFrom("In" as const, "NotIn" as const, "Exists" as const, "DoesNotExist" as const),
  values: fc.subarray(values, { minLength: 1 }),
}).map((r) => (r.operator === "Exists" || r.operator === "DoesNotExist" ? { key: r.key, operator: r.operator } : r))
const labelSelector: fc.Arbitrary<LabelSelector> = fc.record({
  matchLabels: fc.dictionary(fc.constantFrom(...keys), fc.constantFrom(...values), { maxKeys: 2 }),
  matchExpressions: fc.array(requirement, { maxLength: 2 }),
})
const selectorList = fc.array(labelSelector, { maxLength: 3 }).map((list) => list.map((s) => {
  const { selector } = parseSelector(s)
  if (selector === undefined) throw new Error(JSON.stringify(s))
  return selector
}))
const labels = fc.dictionary(fc.constantFrom(...keys), fc.constantFrom(...values))
const selects = (list: ReadonlyArray<Selector>, l: Readonly<Record<string, string>>) => anyMatches(list, l)

describe("nodeSetsMeet", () => {
  it("without Nodes, 'cannot meet' is never wrong: no label map is selected by both (property)", () => {
    let disjoint = 0
    fc.assert(
      fc.property(selectorList, selectorList, fc.array(labels, { maxLength: 40 }), (a, b, maps) => {
        if (nodeSetsMeet(a, b, undefined) !== undefined) return
        disjoint += 1
        for (const l of maps) expect(selects(a, l) && selects(b, l), JSON.stringify(l)).toBe(false)
      }),
      { numRuns: 2000 },
    )
    expect(disjoint).toBeGreaterThan(50)
  })

  it("with Nodes, meets exactly when some node is selected by both, and names the first such node (property)", () => {
    fc.assert(
      fc.property(selectorList, selectorList, fc.array(labels, { minLength: 1, maxLength: 6 }), (a, b, maps) => {
        const nodes = maps.map((l, i) => ({ name: `n${i}`, labels: l }))
        const first = nodes.find((n) => selects(a, n.labels) && selects(b, n.labels))
        expect(nodeSetsMeet(a, b, nodes)).toEqual(first === undefined ? undefined : { node: first.name })
      }),
      { numRuns: 2000 },
    )
  })

  it("examples: no selectors select every node; provably disjoint pairs", () => {
    const parse = (s: LabelSelector) => parseSelector(s).selector!
    const rack = (v: string) => parse({ matchLabels: { rack: v } })
    expect(nodeSetsMeet([], [rack("a")], undefined)).toEqual({ node: undefined })
    expect(nodeSetsMeet([rack("a")], [rack("b")], undefined)).toBeUndefined()
    expect(nodeSetsMeet([rack("a"), rack("b")], [rack("b")], undefined)).toEqual({ node: undefined })
    expect(nodeSetsMeet([rack("a")], [parse({ matchExpressions: [{ key: "rack", operator: "DoesNotExist" }] })], undefined)).toBeUndefined()
    expect(nodeSetsMeet([rack("a")], [parse({ matchExpressions: [{ key: "rack", operator: "NotIn", values: ["a"] }] })], undefined)).toBeUndefined()
    expect(nodeSetsMeet([], [], [])).toBeUndefined()
  })
})
