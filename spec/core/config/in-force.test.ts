// The configuration in force: resolve once per change, keep the last valid one, say what happened once.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Document } from "../../../core/config/decode.ts"
import { type ConfigInForce, type ConfigSources, noConfig, resolutionOf, retryConfig, updateConfig, withResolution } from "../../../core/config/in-force.ts"

const pool = (name: string, address: string, extra: Record<string, unknown> = {}): Document => ({
  value: {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name, namespace: "metallb-system", ...extra },
    spec: { addresses: [address] },
  },
})

const sources = (...documents: ReadonlyArray<Document>): ConfigSources => ({ documents, secrets: [] })

describe("updateConfig", () => {
  it("applies a valid configuration and reports it once", () => {
    const first = updateConfig(noConfig, sources(pool("a", "192.0.2.0/28")))
    expect(first.change._tag).toBe("Applied")
    expect([...first.state.config!.pools.keys()]).toEqual(["a"])
    expect(first.state.stale).toBe(false)
    const again = updateConfig(first.state, sources(pool("a", "192.0.2.0/28")))
    expect(again.change._tag).toBe("Unchanged")
    expect(again.state).toBe(first.state)
  })

  it("keeps the last valid configuration when the new one is invalid, and says so once", () => {
    const valid = updateConfig(noConfig, sources(pool("a", "192.0.2.0/28"))).state
    const invalid = updateConfig(valid, sources(pool("a", "192.0.2.0/33")))
    expect(invalid.change).toMatchObject({ _tag: "Rejected", keeping: true })
    expect(invalid.state.config).toBe(valid.config)
    expect(invalid.state.stale).toBe(true)
    expect(invalid.state.errors.map((e) => [e.object.name, e.field])).toEqual([["a", "spec.addresses[0]"]])
    expect(updateConfig(invalid.state, sources(pool("a", "192.0.2.0/33"))).change._tag).toBe("Unchanged")
    const fixed = updateConfig(invalid.state, sources(pool("a", "198.51.100.0/28")))
    expect(fixed.change._tag).toBe("Applied")
    expect(fixed.state.stale).toBe(false)
    expect(fixed.state.errors).toEqual([])
  })

  it("has nothing in force when the first configuration is invalid", () => {
    const r = updateConfig(noConfig, sources(pool("a", "not-an-address")))
    expect(r.change).toMatchObject({ _tag: "Rejected", keeping: false })
    expect(r.state.config).toBeUndefined()
  })

  it("does not resolve again for changes our own writes make (status, resourceVersion, managedFields)", () => {
    const applied = updateConfig(noConfig, sources(pool("a", "192.0.2.0/28", { resourceVersion: "1" }))).state
    const written: Document = {
      value: {
        ...(pool("a", "192.0.2.0/28").value as object),
        metadata: { name: "a", namespace: "metallb-system", resourceVersion: "2", managedFields: [{ manager: "metallb-ts" }], uid: "u" },
        status: { assignedIPv4: 1 },
      },
    }
    expect(updateConfig(applied, sources(written)).change._tag).toBe("Unchanged")
  })

  it("resolves again when a Secret, a label or the Nodes change", () => {
    const base = updateConfig(noConfig, sources(pool("a", "192.0.2.0/28"))).state
    expect(updateConfig(base, sources(pool("a", "192.0.2.0/28", { labels: { x: "y" } }))).change._tag).toBe("Applied")
    const withSecret: ConfigSources = {
      ...sources(pool("a", "192.0.2.0/28")),
      secrets: [{ object: { apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, data: { password: "cA==" } }, ref: { kind: "Secret", name: "s" } }],
    }
    expect(updateConfig(base, withSecret).change._tag).toBe("Applied")
    expect(updateConfig(base, { ...sources(pool("a", "192.0.2.0/28")), nodes: [{ name: "n1", labels: {} }] }).change._tag).toBe("Applied")
  })

  it("resolves again after retryConfig even if nothing changed", () => {
    const s = updateConfig(noConfig, sources(pool("a", "192.0.2.0/28"))).state
    expect(updateConfig(retryConfig(s), sources(pool("a", "192.0.2.0/28"))).change._tag).toBe("Applied")
  })

  it("never loses a valid configuration to any sequence of valid and invalid updates (property)", () => {
    const update = fc.record({ valid: fc.boolean(), octet: fc.integer({ min: 0, max: 15 }) })
    fc.assert(
      fc.property(fc.array(update, { maxLength: 20 }), (updates) => {
        let state: ConfigInForce = noConfig
        /** First address of the last valid pool (192.0.2.0/24 is 0xc0000200). */
        let lastValidFirst: bigint | undefined
        for (const u of updates) {
          const address = u.valid ? `192.0.2.${u.octet * 16}/28` : `192.0.2.${u.octet}/40`
          state = updateConfig(state, sources(pool("a", address))).state
          if (u.valid) lastValidFirst = 0xc0000200n + BigInt(u.octet * 16)
          expect(state.config?.pools.get("a")?.ranges[0]?.first).toBe(lastValidFirst)
          expect(state.stale).toBe(!u.valid)
        }
      }),
    )
  })

  it("reads the resolution the sources carry for these very inputs, not one for other inputs", () => {
    const a = sources(pool("a", "192.0.2.0/28"))
    const b = sources(pool("a", "198.51.100.0/28"))
    const carried = withResolution(a)
    // Carried for a's inputs: a copy that keeps them reads it (here the other pool's, planted).
    const planted: ConfigSources = { ...carried, resolved: { ...carried.resolved!, resolution: resolutionOf(b) } }
    expect(updateConfig(noConfig, planted).state.config?.pools.get("a")?.ranges[0]?.first).toBe(0xc6336400n)
    expect(resolutionOf(planted)).toBe(planted.resolved!.resolution)
    // A copy with other documents resolves its own.
    const copy: ConfigSources = { ...carried, documents: b.documents }
    expect(updateConfig(noConfig, copy).state.config?.pools.get("a")?.ranges[0]?.first).toBe(0xc6336400n)
    expect(resolutionOf({ ...planted, documents: a.documents.slice() })).not.toBe(planted.resolved!.resolution)
  })

  it("decides the same with or without a carried resolution, for any sequence of updates (property)", () => {
    const update = fc.record({ valid: fc.boolean(), octet: fc.integer({ min: 0, max: 15 }), retry: fc.boolean() })
    fc.assert(
      fc.property(fc.array(update, { maxLength: 15 }), (updates) => {
        let bare: ConfigInForce = noConfig
        let resolved: ConfigInForce = noConfig
        for (const u of updates) {
          const s = sources(pool("a", u.valid ? `192.0.2.${u.octet * 16}/28` : `192.0.2.${u.octet}/40`))
          const x = updateConfig(u.retry ? retryConfig(bare) : bare, s)
          const y = updateConfig(u.retry ? retryConfig(resolved) : resolved, withResolution(s))
          expect(y.change).toEqual(x.change)
          expect(y.state).toEqual(x.state)
          bare = x.state
          resolved = y.state
        }
      }),
    )
  })
})
