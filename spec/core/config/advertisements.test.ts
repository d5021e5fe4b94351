// BGPAdvertisement rules that depend on the pools and on other advertisements: aggregation lengths
// against pool entries (ranges by the shortest of their summarising CIDRs, as MetalLB), and LOCAL_PREF
// conflicts, where different aggregation lengths tell two advertisements apart only in the families
// the pool has.
import { describe, expect, it } from "vitest"
import { resolve } from "../../../core/config/resolve.ts"
import { bgpAd, node, onlyProblem, pool, problems } from "./documents.ts"

describe("aggregation length against the pool's entries", () => {
  it("compares a range with the shortest CIDR that summarises it (192.0.2.10-192.0.2.20 is /31 + /30 + /30 + /32: up to a /30)", () => {
    const range = pool("range", ["192.0.2.10-192.0.2.20"])
    expect(problems([range, bgpAd("agg", { ipAddressPools: ["range"], aggregationLength: 30 })])).toEqual([])
    const error = onlyProblem([range, bgpAd("agg", { ipAddressPools: ["range"], aggregationLength: 29 })])
    expect(error).toMatchObject({
      code: "InvalidAggregationLength",
      object: { kind: "BGPAdvertisement", name: "agg" },
      field: "spec.aggregationLength",
      value: 29,
      other: { object: { kind: "IPAddressPool", name: "range" }, field: "spec.addresses[0]", value: "192.0.2.10-192.0.2.20" },
    })
    expect(error.message).toContain("aggregationLength 29 is shorter than 192.0.2.12/30, the largest CIDR of 192.0.2.10-192.0.2.20, in pool \"range\"")
    expect(error.message).toContain("set aggregationLength to at least 30")
  })

  it("names the entry needing the longest length, per family, with the least valid length", () => {
    const mixed = pool("mixed", ["198.51.100.0/24", "203.0.113.0/28", "2001:db8::/64", "2001:db8:1::/120"])
    const r = resolve([mixed, bgpAd("agg", { aggregationLength: 26, aggregationLengthV6: 100 })])
    expect(r._tag).toBe("Invalid")
    const errors = r._tag === "Invalid" ? r.errors : []
    expect(errors.map((e) => [e.field, e.other?.field, e.other?.value])).toEqual([
      ["spec.aggregationLength", "spec.addresses[1]", "203.0.113.0/28"],
      ["spec.aggregationLengthV6", "spec.addresses[3]", "2001:db8:1::/120"],
    ])
    expect(errors[0]?.message).toContain("set aggregationLength to at least 28")
    expect(errors[1]?.message).toContain("set aggregationLengthV6 to at least 120")
    expect(problems([mixed, bgpAd("agg", { aggregationLength: 28, aggregationLengthV6: 120 })])).toEqual([])
  })
})

describe("LOCAL_PREF between advertisements of one pool", () => {
  const ads = (a: Record<string, unknown>, b: Record<string, unknown>) => [
    bgpAd("a", { ipAddressPools: ["p"], localPref: 100, ...a }),
    bgpAd("b", { ipAddressPools: ["p"], localPref: 200, ...b }),
  ]

  it("different IPv4 aggregation lengths tell them apart on an IPv4-only pool (MetalLB accepts this)", () => {
    const v4 = pool("p", ["198.51.100.0/24"])
    expect(problems([v4, ...ads({ aggregationLength: 32 }, { aggregationLength: 24 })])).toEqual([])
    expect(problems([v4, ...ads({ aggregationLengthV6: 128 }, { aggregationLengthV6: 64 })])).toEqual(["BGPAdvertisement/b ConflictingLocalPref spec.localPref"])
  })

  it("different IPv6 lengths tell them apart on an IPv6-only pool; a dual-stack pool needs both to differ", () => {
    const v6 = pool("p", ["2001:db8::/64"])
    expect(problems([v6, ...ads({ aggregationLengthV6: 128 }, { aggregationLengthV6: 64 })])).toEqual([])
    const dual = pool("p", ["198.51.100.0/24", "2001:db8::/64"])
    expect(problems([dual, ...ads({}, { aggregationLength: 24 })])).toEqual(["BGPAdvertisement/b ConflictingLocalPref spec.localPref"])
    expect(problems([dual, ...ads({}, { aggregationLength: 24, aggregationLengthV6: 64 })])).toEqual([])
  })

  it("names both values and the ways out", () => {
    const error = onlyProblem([pool("p", ["198.51.100.0/24"]), ...ads({}, {})])
    expect(error).toMatchObject({ code: "ConflictingLocalPref", field: "spec.localPref", value: 200, other: { object: { name: "a" }, field: "spec.localPref", value: 100 } })
    expect(error.message).toContain("LOCAL_PREF 200 here and 100 by BGPAdvertisement \"a\"")
    expect(error.message).toContain("Give both the same localPref")
    expect(error.message).toContain("a different aggregationLength (the pool is IPv4 only)")
  })

  it("decides on the real Nodes when they are known (Node documents count), else from the selectors", () => {
    const sel = (k: string) => ({ nodeSelectors: [{ matchLabels: { [k]: "x" } }] })
    const documents = [pool("p", ["198.51.100.0/24"]), ...ads(sel("rack"), sel("zone"))]
    expect(problems(documents)).toEqual(["BGPAdvertisement/b ConflictingLocalPref spec.localPref"])
    expect(problems([...documents, node("n1", { rack: "x" }), node("n2", { zone: "x" })])).toEqual([])
    const both = onlyProblem([...documents, node("n1", { rack: "x" }), node("n3", { rack: "x", zone: "x" })])
    expect(both.message).toContain("both select node \"n3\"")
    expect(problems(documents, { namespace: "metallb-system", secrets: [], nodes: [{ name: "n1", labels: { rack: "x" } }] })).toEqual([])
  })
})

describe("pools named by an advertisement", () => {
  it("an unknown pool is a warning; a pool that exists but is invalid is not called unknown (its own errors say why)", () => {
    expect(problems([bgpAd("a", { ipAddressPools: ["later"] })])).toEqual(["BGPAdvertisement/a MissingField spec.ipAddressPools[0]"])
    expect(problems([pool("broken", ["192.0.2.0/33"]), bgpAd("a", { ipAddressPools: ["broken"] })])).toEqual(["IPAddressPool/broken InvalidCidr spec.addresses[0]"])
  })
})
