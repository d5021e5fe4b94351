import { Result } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { BgpCommunity } from "../../../core/config/config.ts"
import type { Located } from "../../../core/config/decode.ts"
import type { ObjectRef } from "../../../core/config/errors.ts"
import type { Community } from "../../../core/config/kinds/community.ts"
import {
  formatCommunity,
  parseCommunity,
  resolveCommunityAliases,
  resolveCommunityRef,
} from "../../../core/config/rules/communities.ts"

const namespace = "metallb-system"
const context = { namespace }

const community = (name: string, aliases: ReadonlyArray<{ name: string; value: string }>, ns: string | undefined = namespace): Located<Community> => ({
  object: {
    apiVersion: "metallb.io/v1beta1",
    kind: "Community",
    metadata: { name, ...(ns === undefined ? {} : { namespace: ns }) },
    spec: { communities: aliases },
  },
  ref: { kind: "Community", name, ...(ns === undefined ? {} : { namespace: ns }) },
})

const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) throw new Error(`expected success, got ${String(r.failure)}`)
  return r.success
}

describe("parseCommunity", () => {
  it("reads standard A:B with 16-bit halves", () => {
    expect(ok(parseCommunity("65000:100"))).toEqual({ kind: "standard", asn: 65000, value: 100 })
    expect(ok(parseCommunity("0:0"))).toEqual({ kind: "standard", asn: 0, value: 0 })
    expect(ok(parseCommunity("65535:65535"))).toEqual({ kind: "standard", asn: 65535, value: 65535 })
    // Go's strconv.ParseUint accepts leading zeros; so do we.
    expect(ok(parseCommunity("0065535:007"))).toEqual({ kind: "standard", asn: 65535, value: 7 })
  })

  it("reads large:A:B:C with 32-bit parts", () => {
    expect(ok(parseCommunity("large:1:2:3"))).toEqual({ kind: "large", globalAdministrator: 1, localData1: 2, localData2: 3 })
    expect(ok(parseCommunity("large:4294967295:0:4294967295"))).toEqual({
      kind: "large",
      globalAdministrator: 4294967295,
      localData1: 0,
      localData2: 4294967295,
    })
  })

  it("rejects any other text with a colon, with a reason", () => {
    for (const text of [
      "1:2:3", "65536:1", "1:65536", "large:1:2", "large:1:2:3:4", "a:b", "1:", ":1", ":", "-1:2", "+1:2", " 1:2", "1:2 ",
      "1.5:2", "0x10:1", "large:4294967296:1:1", "large:a:b:c", "LARGE:1:2:3", "large::1:2", "1:2:3:4",
    ]) {
      const result = parseCommunity(text)
      expect(Result.isFailure(result), text).toBe(true)
      if (Result.isFailure(result)) expect(result.failure.length).toBeGreaterThan(0)
    }
  })

  it("does not read text without a colon as a literal (it is an alias name)", () => {
    expect(Result.isFailure(parseCommunity("no-export"))).toBe(true)
    expect(Result.isFailure(parseCommunity("65000"))).toBe(true)
  })

  it("round-trips every standard value (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), (asn, value) => {
        const c: BgpCommunity = { kind: "standard", asn, value }
        expect(formatCommunity(c)).toBe(`${asn}:${value}`)
        expect(ok(parseCommunity(formatCommunity(c)))).toEqual(c)
      }),
      { numRuns: 1000 },
    )
  })

  it("round-trips every large value (property)", () => {
    const uint32 = fc.integer({ min: 0, max: 4294967295 })
    fc.assert(
      fc.property(uint32, uint32, uint32, (globalAdministrator, localData1, localData2) => {
        const c: BgpCommunity = { kind: "large", globalAdministrator, localData1, localData2 }
        expect(ok(parseCommunity(formatCommunity(c)))).toEqual(c)
      }),
      { numRuns: 1000 },
    )
  })

  it("never throws on arbitrary text, and what it accepts formats back to itself modulo leading zeros (fuzz)", () => {
    const colonHeavy = fc.array(fc.oneof(fc.constantFrom(":", "large:", "0", "65535", "65536", "4294967296"), fc.string({ maxLength: 6 })), { maxLength: 6 })
      .map((parts) => parts.join(""))
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), colonHeavy), (text) => {
        const result = parseCommunity(text)
        if (Result.isSuccess(result)) {
          const again = parseCommunity(formatCommunity(result.success))
          expect(Result.isSuccess(again) && again.success).toEqual(result.success)
        } else {
          expect(typeof result.failure).toBe("string")
        }
      }),
      { numRuns: 1000 },
    )
  })
})

describe("resolveCommunityAliases", () => {
  it("maps every alias of every object to its value", () => {
    const { aliases, errors } = resolveCommunityAliases([
      community("a", [{ name: "no-advertise", value: "65535:65282" }, { name: "big", value: "large:64512:1:2" }]),
      community("b", [{ name: "other", value: "64512:7" }], undefined),
    ], context)
    expect(errors).toEqual([])
    expect([...aliases]).toEqual([
      ["no-advertise", { kind: "standard", asn: 65535, value: 65282 }],
      ["big", { kind: "large", globalAdministrator: 64512, localData1: 1, localData2: 2 }],
      ["other", { kind: "standard", asn: 64512, value: 7 }],
    ])
  })

  it("rejects an alias value that is not a literal: InvalidCommunity on spec.communities[i].value", () => {
    for (const value of ["1:2:3", "65536:1", "large:1:2", "a:b", "no-advertise", ""]) {
      const { aliases, errors } = resolveCommunityAliases([community("c", [{ name: "ok", value: "1:1" }, { name: "bad", value }])], context)
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatchObject({
        _tag: "ConfigError",
        code: "InvalidCommunity",
        severity: "permanent",
        object: { kind: "Community", name: "c", namespace },
        field: "spec.communities[1].value",
        value,
      })
      expect(aliases.has("bad")).toBe(false)
      expect(aliases.has("ok")).toBe(true)
    }
  })

  it("rejects an alias name repeated within an object, pointing at the first", () => {
    const { aliases, errors } = resolveCommunityAliases([
      community("c", [{ name: "x", value: "1:1" }, { name: "x", value: "2:2" }]),
    ], context)
    expect(errors).toEqual([expect.objectContaining({
      code: "DuplicateName",
      severity: "permanent",
      object: { kind: "Community", name: "c", namespace },
      field: "spec.communities[1].name",
      value: "x",
      other: { object: { kind: "Community", name: "c", namespace }, field: "spec.communities[0].name", value: "x" },
    })])
    expect(aliases.get("x")).toEqual({ kind: "standard", asn: 1, value: 1 })
  })

  it("rejects an alias name repeated across objects, pointing at the first object", () => {
    const { errors } = resolveCommunityAliases([
      community("first", [{ name: "x", value: "1:1" }]),
      community("second", [{ name: "y", value: "1:2" }, { name: "x", value: "1:1" }]),
    ], context)
    expect(errors).toEqual([expect.objectContaining({
      code: "DuplicateName",
      object: { kind: "Community", name: "second", namespace },
      field: "spec.communities[1].name",
      value: "x",
      other: { object: { kind: "Community", name: "first", namespace }, field: "spec.communities[0].name", value: "x" },
    })])
  })

  it("reports a repeat of an invalid first definition too", () => {
    const { aliases, errors } = resolveCommunityAliases([community("c", [{ name: "x", value: "bad:value" }, { name: "x", value: "1:1" }])], context)
    expect(errors.map((e) => [e.code, e.field])).toEqual([
      ["InvalidCommunity", "spec.communities[0].value"],
      ["DuplicateName", "spec.communities[1].name"],
    ])
    expect(aliases.size).toBe(0)
  })

  it("rejects an alias name with a colon: it could never be referred to", () => {
    const { aliases, errors } = resolveCommunityAliases([community("c", [{ name: "1:2", value: "3:4" }])], context)
    expect(errors).toEqual([expect.objectContaining({ code: "InvalidCommunity", severity: "permanent", field: "spec.communities[0].name", value: "1:2" })])
    expect(aliases.size).toBe(0)
  })

  it("rejects an empty alias name: MissingField", () => {
    const { aliases, errors } = resolveCommunityAliases([community("c", [{ name: "", value: "3:4" }])], context)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ code: "MissingField", severity: "permanent", field: "spec.communities[0].name" })
    expect(errors[0]?.value).toBeUndefined()
    expect(aliases.size).toBe(0)
  })

  it("refuses a Community object in another namespace: WrongNamespace, and its aliases are not defined", () => {
    const { aliases, errors } = resolveCommunityAliases([community("c", [{ name: "x", value: "1:1" }], "default")], context)
    expect(errors).toEqual([expect.objectContaining({
      code: "WrongNamespace",
      severity: "permanent",
      object: { kind: "Community", name: "c", namespace: "default" },
      field: "metadata.namespace",
      value: "default",
    })])
    expect(aliases.size).toBe(0)
  })

  it("collects every problem in input order", () => {
    const { errors } = resolveCommunityAliases([
      community("a", [{ name: "", value: "x" }, { name: "ok", value: "1:1" }]),
      community("b", [{ name: "ok", value: "99999:1" }]),
    ], context)
    expect(errors.map((e) => `${e.object.name} ${e.code} ${e.field}`)).toEqual([
      "a MissingField spec.communities[0].name",
      "a InvalidCommunity spec.communities[0].value",
      "b InvalidCommunity spec.communities[0].value",
      "b DuplicateName spec.communities[0].name",
    ])
  })
})

describe("resolveCommunityRef", () => {
  const ref: ObjectRef = { kind: "BGPAdvertisement", name: "adv", namespace }
  const aliases = new Map<string, BgpCommunity>([["no-export", { kind: "standard", asn: 65535, value: 65281 }]])

  it("reads a literal", () => {
    expect(resolveCommunityRef("64512:10", aliases, ref, "spec.communities[0]")).toEqual({ community: { kind: "standard", asn: 64512, value: 10 } })
    expect(resolveCommunityRef("large:1:2:3", aliases, ref, "spec.communities[0]")).toEqual({
      community: { kind: "large", globalAdministrator: 1, localData1: 2, localData2: 3 },
    })
  })

  it("looks up an alias", () => {
    expect(resolveCommunityRef("no-export", aliases, ref, "spec.communities[0]")).toEqual({ community: { kind: "standard", asn: 65535, value: 65281 } })
  })

  it("reports an unknown alias as transient UnknownCommunity", () => {
    const { community: found, error } = resolveCommunityRef("later", aliases, ref, "spec.communities[2]")
    expect(found).toBeUndefined()
    expect(error).toMatchObject({ code: "UnknownCommunity", severity: "transient", object: ref, field: "spec.communities[2]", value: "later" })
  })

  it("reports an invalid literal as permanent InvalidCommunity", () => {
    for (const text of ["1:2:3", "65536:1", "large:1:2", "a:b"]) {
      const { community: found, error } = resolveCommunityRef(text, aliases, ref, "spec.communities[1]")
      expect(found).toBeUndefined()
      expect(error).toMatchObject({ code: "InvalidCommunity", severity: "permanent", object: ref, field: "spec.communities[1]", value: text })
    }
  })

  it("reports empty text as InvalidCommunity", () => {
    expect(resolveCommunityRef("", aliases, ref, "spec.communities[0]").error).toMatchObject({ code: "InvalidCommunity", severity: "permanent", value: "" })
  })
})
