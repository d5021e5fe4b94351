import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type LabelSelector, matches, parseSelector } from "../../../core/config/selector.ts"

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
