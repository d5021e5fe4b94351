// Properties of resolve() over the whole configuration, using the corpus's valid files as seeds.
import { readdirSync, readFileSync } from "node:fs"
import { Schema } from "effect"
import fc from "fast-check"
import { parseAllDocuments } from "yaml"
import { describe, expect, it } from "vitest"
import type { Document } from "../../../core/config/decode.ts"
import { decodeDocuments } from "../../../core/config/decode.ts"
import { IPAddressPoolSchema } from "../../../core/config/kinds/ip-address-pool.ts"
import { BGPPeerSchema, BGPPeerV1beta1Schema, convertV1beta1ToV1beta2, convertV1beta2ToV1beta1 } from "../../../core/config/kinds/bgp-peer.ts"
import { resolve } from "../../../core/config/resolve.ts"
import { defaultContext } from "../../../core/config/rules/context.ts"

const dir = new URL("../../fixtures/config/", import.meta.url).pathname
const corpus = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort().map((file) => ({
  file,
  documents: parseAllDocuments(readFileSync(dir + file, "utf8")).map((d, i): Document => ({ value: d.toJS(), source: { file, document: i } })),
}))

/** Errors as comparable text, independent of the order they were produced in. */
const summary = (documents: ReadonlyArray<Document>) => {
  const r = resolve(documents)
  return JSON.stringify({
    tag: r._tag,
    errors: (r._tag === "Invalid" ? r.errors : []).map((e) => `${e.code}|${e.object.kind}/${e.object.name}|${e.field}|${e.severity}`).sort(),
    warnings: r.warnings.map((e) => `${e.code}|${e.object.name}|${e.field}`).sort(),
    pools: r._tag === "Valid" ? [...r.config.pools.keys()].sort() : [],
    peers: r._tag === "Valid" ? [...r.config.peers.keys()].sort() : [],
  })
}

describe("resolve", () => {
  it("is deterministic and independent of document order, for every corpus file (property)", () => {
    fc.assert(
      fc.property(fc.constantFrom(...corpus), fc.infiniteStream(fc.nat()), ({ documents }, randoms) => {
        const shuffled = [...documents]
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = randoms.next().value % (i + 1)
          ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
        }
        // Duplicate names are reported on the later object, so order-independence holds for files without them.
        const hasDuplicateNames = summary(documents).includes("DuplicateName")
        if (!hasDuplicateNames) expect(summary(shuffled)).toBe(summary(documents))
        expect(summary(documents)).toBe(summary(documents))
      }),
      { numRuns: 1000 },
    )
  })

  it("never throws on arbitrary JSON documents: every problem is a typed ConfigError (fuzz)", () => {
    const metallbLike = fc.record({
      apiVersion: fc.constantFrom("metallb.io/v1beta1", "metallb.io/v1beta2", "v1", "metallb.io/v9"),
      kind: fc.constantFrom("IPAddressPool", "L2Advertisement", "BGPAdvertisement", "BGPPeer", "BFDProfile", "Community", "Secret", "Other"),
      metadata: fc.oneof(fc.record({ name: fc.string(), namespace: fc.constantFrom("metallb-system", "default") }), fc.jsonValue()),
      spec: fc.jsonValue(),
    })
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.jsonValue(), metallbLike), { maxLength: 6 }), (values) => {
        const result = resolve(values.map((value) => ({ value })))
        const problems = result._tag === "Invalid" ? [...result.errors, ...result.warnings] : result.warnings
        for (const p of problems) {
          expect(p._tag).toBe("ConfigError")
          expect(typeof p.code).toBe("string")
          expect(p.message.length).toBeGreaterThan(0)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it("never throws on mutated corpus objects (fuzz)", () => {
    const objects = corpus.flatMap((c) => c.documents.map((d) => d.value)).filter((v) => typeof v === "object" && v !== null)
    fc.assert(
      fc.property(fc.constantFrom(...objects), fc.string(), fc.jsonValue(), (object, key, value) => {
        const mutated = JSON.parse(JSON.stringify(object)) as { spec?: Record<string, unknown> }
        if (mutated.spec !== undefined && typeof mutated.spec === "object") {
          const keys = Object.keys(mutated.spec)
          mutated.spec[keys.length > 0 ? keys[key.length % keys.length]! : key] = value
        }
        resolve([{ value: mutated }])
      }),
      { numRuns: 2000 },
    )
  })

  it("round-trips valid objects through decode and encode (property)", () => {
    const valid = corpus.filter((c) => c.file.startsWith("valid-"))
    const decoded = valid.flatMap((c) => decodeDocuments(c.documents).objects.pools.map((p) => p.object))
    expect(decoded.length).toBeGreaterThan(5)
    fc.assert(
      fc.property(fc.constantFrom(...decoded), (pool) => {
        const encoded = Schema.encodeSync(IPAddressPoolSchema)(pool)
        expect(Schema.decodeUnknownSync(IPAddressPoolSchema)(encoded)).toEqual(pool)
      }),
      { numRuns: 200 },
    )
  })

  it("converts BGPPeer v1beta2 -> v1beta1 -> v1beta2 without losing a field", () => {
    const peers = corpus.flatMap((c) => decodeDocuments(c.documents).objects.peers.map((p) => p.object))
    expect(peers.some((p) => p.spec.enableGracefulRestart === true || p.spec.dynamicASN !== undefined)).toBe(true)
    for (const peer of peers) {
      const down = Schema.decodeUnknownSync(BGPPeerV1beta1Schema)(convertV1beta2ToV1beta1(peer))
      const up = Schema.decodeUnknownSync(BGPPeerSchema)(convertV1beta1ToV1beta2(down))
      expect(up).toEqual(peer)
    }
  })

  it("keeps transient errors apart from permanent ones", () => {
    const missing = corpus.find((c) => c.file === "invalid-peer-missing-secret.yaml")!
    const r = resolve(missing.documents, defaultContext)
    expect(r._tag).toBe("Invalid")
    if (r._tag === "Invalid") expect(r.errors.map((e) => e.severity)).toEqual(["transient"])
  })
})
