import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type LabelSelector, matches, parseSelector, repeatedParts } from "../../../core/config/selector.ts"
import { bgpAd, bgpPeer, l2Ad, pool, problems } from "./documents.ts"

const parse = (s: LabelSelector) => {
  const { selector, problems } = parseSelector(s)
  if (selector === undefined) throw new Error(JSON.stringify(problems))
  return selector
}

describe("label selectors", () => {
  it("evaluates matchLabels and every operator as Kubernetes does", () => {
    const s = parse({
      matchLabels: { zone: "a" },
      matchExpressions: [
        { key: "tier", operator: "In", values: ["edge", "core"] },
        { key: "env", operator: "NotIn", values: ["test"] },
        { key: "node-role.kubernetes.io/worker", operator: "Exists" },
        { key: "drain", operator: "DoesNotExist" },
      ],
    })
    const base = { zone: "a", tier: "edge", "node-role.kubernetes.io/worker": "" }
    expect(matches(s, base)).toBe(true)
    expect(matches(s, { ...base, env: "prod" })).toBe(true)
    expect(matches(s, { ...base, env: "test" })).toBe(false)
    expect(matches(s, { ...base, drain: "true" })).toBe(false)
    expect(matches(s, { ...base, tier: "other" })).toBe(false)
    expect(matches(s, { zone: "a", tier: "edge" })).toBe(false)
    expect(matches(parse({}), {})).toBe(true)
  })

  it("reports malformed selectors with their path", () => {
    expect(parseSelector({ matchExpressions: [{ key: "a", operator: "In" }] }).problems).toMatchObject([{ field: "matchExpressions[0].values" }])
    expect(parseSelector({ matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] }).problems).toMatchObject([{ field: "matchExpressions[0].values" }])
    expect(parseSelector({ matchLabels: { "bad key!": "v" } }).problems).toMatchObject([{ field: "matchLabels.bad key!" }])
    expect(parseSelector({ matchLabels: { ok: "-bad" } }).problems).toMatchObject([{ field: "matchLabels.ok" }])
    expect(parseSelector({ matchLabels: { ["a".repeat(64)]: "v" } }).problems.length).toBe(1)
  })

  it("gives the same canonical text to selectors that mean the same (property)", () => {
    const label = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/)
    fc.assert(
      fc.property(fc.dictionary(label, label, { maxKeys: 5 }), (labels) => {
        const asLabels = parse({ matchLabels: labels })
        const reversed = Object.entries(labels).reverse().map(([key, value]) => ({ key, operator: "In" as const, values: [value] }))
        expect(parse({ matchExpressions: reversed }).text).toBe(asLabels.text)
      }),
      { numRuns: 1000 },
    )
  })

  it("matchLabels selects exactly the label maps containing those pairs (property)", () => {
    const label = fc.constantFrom("a", "b", "c", "d")
    fc.assert(
      fc.property(fc.dictionary(label, label), fc.dictionary(label, label), (wanted, labels) => {
        const expected = Object.entries(wanted).every(([k, v]) => labels[k] === v)
        expect(matches(parse({ matchLabels: wanted }), labels)).toBe(expected)
      }),
      { numRuns: 1000 },
    )
  })
})

describe("repeated parts inside a selector (MetalLB validateLabelSelectorDuplicate)", () => {
  it("a value listed twice in one matchExpression, and two matchExpressions with the same key, operator and value set", () => {
    expect(repeatedParts({ matchExpressions: [{ key: "rack", operator: "In", values: ["a", "b", "a"] }] })).toMatchObject([
      { field: "matchExpressions[0].values[2]", value: "a", message: "repeats matchExpressions[0].values[0]; list each value once" },
    ])
    expect(repeatedParts({
      matchExpressions: [
        { key: "rack", operator: "In", values: ["a", "b"] },
        { key: "rack", operator: "NotIn", values: ["a", "b"] },
        { key: "rack", operator: "In", values: ["b", "a"] },
        { key: "zone", operator: "Exists" },
        { key: "zone", operator: "Exists", values: [] },
      ],
    })).toMatchObject([
      { field: "matchExpressions[2]", message: "the same requirement as matchExpressions[0] (values compared as sets); remove one" },
      { field: "matchExpressions[4]" },
    ])
    expect(repeatedParts({ matchLabels: { rack: "a" }, matchExpressions: [{ key: "rack", operator: "In", values: ["a", "b"] }] })).toEqual([])
  })

  it("is refused in every selector list of the configuration, with the path to the repeated part", () => {
    const twice = { matchExpressions: [{ key: "team", operator: "In", values: ["x", "x"] }] }
    const sameTwice = { matchExpressions: [{ key: "team", operator: "In", values: ["x", "y"] }, { key: "team", operator: "In", values: ["y", "x"] }] }
    expect(problems([
      pool("p", ["192.0.2.0/24"], { serviceAllocation: { namespaceSelectors: [twice], serviceSelectors: [sameTwice] } }),
      l2Ad("l2", { ipAddressPoolSelectors: [twice], nodeSelectors: [sameTwice], serviceSelectors: [twice] }),
      bgpAd("bgp", { nodeSelectors: [twice] }),
      bgpPeer("peer", { nodeSelectors: [sameTwice] }),
    ])).toEqual([
      "BGPAdvertisement/bgp DuplicateEntry spec.nodeSelectors[0].matchExpressions[0].values[1]",
      "BGPPeer/peer DuplicateEntry spec.nodeSelectors[0].matchExpressions[1]",
      "IPAddressPool/p DuplicateEntry spec.serviceAllocation.namespaceSelectors[0].matchExpressions[0].values[1]",
      "IPAddressPool/p DuplicateEntry spec.serviceAllocation.serviceSelectors[0].matchExpressions[1]",
      "L2Advertisement/l2 DuplicateEntry spec.ipAddressPoolSelectors[0].matchExpressions[0].values[1]",
      "L2Advertisement/l2 DuplicateEntry spec.nodeSelectors[0].matchExpressions[1]",
      "L2Advertisement/l2 DuplicateEntry spec.serviceSelectors[0].matchExpressions[0].values[1]",
    ])
  })

  it("two selectors of one list with the same meaning (values as sets) are duplicates; different operators are not", () => {
    const a = { matchExpressions: [{ key: "team", operator: "In", values: ["x", "y"] }] }
    const b = { matchExpressions: [{ key: "team", operator: "In", values: ["y", "x"] }] }
    const c = { matchExpressions: [{ key: "team", operator: "NotIn", values: ["y", "x"] }] }
    expect(problems([bgpPeer("peer", { nodeSelectors: [a, b] })])).toEqual(["BGPPeer/peer DuplicateEntry spec.nodeSelectors[1]"])
    expect(problems([bgpPeer("peer", { nodeSelectors: [a, c] })])).toEqual([])
  })
})
