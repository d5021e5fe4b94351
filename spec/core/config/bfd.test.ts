import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Located } from "../../../core/config/decode.ts"
import type { BFDProfile } from "../../../core/config/kinds/bfd-profile.ts"
import { resolveBfdProfiles } from "../../../core/config/rules/bfd.ts"

const namespace = "metallb-system"
const context = { namespace }

const profile = (name: string, spec: BFDProfile["spec"] = {}, ns: string | undefined = namespace): Located<BFDProfile> => ({
  object: { apiVersion: "metallb.io/v1beta1", kind: "BFDProfile", metadata: { name, ...(ns === undefined ? {} : { namespace: ns }) }, spec },
  ref: { kind: "BFDProfile", name, ...(ns === undefined ? {} : { namespace: ns }) },
})

describe("resolveBfdProfiles", () => {
  it("applies MetalLB's defaults to an empty profile", () => {
    const { profiles, errors } = resolveBfdProfiles([profile("default")], context)
    expect(errors).toEqual([])
    expect(profiles.get("default")).toEqual({
      name: "default",
      receiveIntervalMs: 300,
      transmitIntervalMs: 300,
      detectMultiplier: 3,
      echoIntervalMs: 50,
      echoMode: false,
      passiveMode: false,
      minimumTtl: 254,
    })
  })

  it("keeps every value that is given, echoMode without a warning: the speaker runs the Echo function", () => {
    const { profiles, errors } = resolveBfdProfiles([
      profile("fast", { receiveInterval: 10, transmitInterval: 20, detectMultiplier: 2, echoInterval: 30, echoMode: true, passiveMode: true, minimumTtl: 1 }, undefined),
    ], context)
    expect(errors).toEqual([])
    expect(profiles.get("fast")).toEqual({
      name: "fast",
      receiveIntervalMs: 10,
      transmitIntervalMs: 20,
      detectMultiplier: 2,
      echoIntervalMs: 30,
      echoMode: true,
      passiveMode: true,
      minimumTtl: 1,
    })
  })

  it("rejects a repeated name: DuplicateName against the first, which stays", () => {
    const { profiles, errors } = resolveBfdProfiles([profile("p", { detectMultiplier: 5 }), profile("q"), profile("p", { detectMultiplier: 9 })], context)
    expect(errors).toEqual([expect.objectContaining({
      _tag: "ConfigError",
      code: "DuplicateName",
      severity: "permanent",
      object: { kind: "BFDProfile", name: "p", namespace },
      field: "metadata.name",
      value: "p",
      other: { object: { kind: "BFDProfile", name: "p", namespace }, field: "metadata.name", value: "p" },
    })])
    expect(profiles.get("p")?.detectMultiplier).toBe(5)
    expect([...profiles.keys()]).toEqual(["p", "q"])
  })

  it("refuses a profile in another namespace: WrongNamespace, not defined, no name clash", () => {
    const { profiles, errors } = resolveBfdProfiles([profile("p", {}, "default"), profile("p", { detectMultiplier: 7 })], context)
    expect(errors).toEqual([expect.objectContaining({
      code: "WrongNamespace",
      severity: "permanent",
      object: { kind: "BFDProfile", name: "p", namespace: "default" },
      field: "metadata.namespace",
      value: "default",
    })])
    expect(profiles.get("p")?.detectMultiplier).toBe(7)
  })

  it("rejects an empty name: MissingField", () => {
    const { profiles, errors } = resolveBfdProfiles([profile("")], context)
    expect(errors).toEqual([expect.objectContaining({ code: "MissingField", field: "metadata.name" })])
    expect(profiles.size).toBe(0)
  })

  it("resolves every schema-valid spec to its values or the defaults, in input order (property)", () => {
    const interval = fc.option(fc.integer({ min: 10, max: 60000 }), { nil: undefined })
    const spec = fc.record({
      receiveInterval: interval,
      transmitInterval: interval,
      detectMultiplier: fc.option(fc.integer({ min: 2, max: 255 }), { nil: undefined }),
      echoInterval: interval,
      echoMode: fc.option(fc.boolean(), { nil: undefined }),
      passiveMode: fc.option(fc.boolean(), { nil: undefined }),
      minimumTtl: fc.option(fc.integer({ min: 1, max: 254 }), { nil: undefined }),
    }, { requiredKeys: [] }).map((s) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as BFDProfile["spec"])
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), spec), { selector: ([name]) => name, maxLength: 8 }), (entries) => {
        const { profiles, errors } = resolveBfdProfiles(entries.map(([name, s]) => profile(name, s)), context)
        expect(errors).toEqual([])
        expect([...profiles.keys()]).toEqual(entries.map(([name]) => name))
        for (const [name, s] of entries) {
          const p = profiles.get(name)
          expect(p).toEqual({
            name,
            receiveIntervalMs: s.receiveInterval ?? 300,
            transmitIntervalMs: s.transmitInterval ?? 300,
            detectMultiplier: s.detectMultiplier ?? 3,
            echoIntervalMs: s.echoInterval ?? 50,
            echoMode: s.echoMode ?? false,
            passiveMode: s.passiveMode ?? false,
            minimumTtl: s.minimumTtl ?? 254,
          })
        }
      }),
      { numRuns: 1000 },
    )
  })
})
