// The CRDs against their source: the committed files are exactly a fresh generation from core's Schemas
// (so the two cannot drift), every metallb.io kind core knows has one, the generator refuses refinements
// that would loosen core, and every value a CRD's bounds and enums admit is one core's Schema decodes.
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Result, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as bfdProfile from "../../core/config/kinds/bfd-profile.ts"
import * as bgpAdvertisement from "../../core/config/kinds/bgp-advertisement.ts"
import * as bgpPeer from "../../core/config/kinds/bgp-peer.ts"
import * as bgpSessionState from "../../core/config/kinds/bgp-session-state.ts"
import * as community from "../../core/config/kinds/community.ts"
import * as ipAddressPool from "../../core/config/kinds/ip-address-pool.ts"
import * as l2Advertisement from "../../core/config/kinds/l2-advertisement.ts"
import * as status from "../../core/config/kinds/status.ts"
import { type Crd, crdFor, crds, type KindSource, metallbKinds, renderCrd, type VersionSource, webhookService } from "../../shell/main/crds.ts"
import { chartDir, readYaml, repoRoot } from "./support.ts"

type Json = Record<string, unknown>

const crdDirs = ["manifests/base/crds", `${chartDir}/files/crds`]

const specOf = (crd: Crd) => crd["spec"] as {
  readonly names: { readonly kind: string; readonly plural: string }
  readonly conversion?: Json
  readonly versions: ReadonlyArray<{
    readonly name: string
    readonly storage: boolean
    readonly deprecated?: boolean
    readonly subresources?: Json
    readonly additionalPrinterColumns?: ReadonlyArray<{ readonly name: string; readonly jsonPath: string }>
    readonly schema: { readonly openAPIV3Schema: Json }
  }>
}

describe("generated CRDs", () => {
  it.each(crdDirs)("%s holds exactly what `metallb-ts crds` generates from core's Schemas", (dir) => {
    const committed = readdirSync(join(repoRoot, dir)).filter((name) => name.endsWith(".yaml") && name !== "kustomization.yaml").sort()
    const generated = crds()
    expect(committed).toEqual(generated.map((c) => c.fileName).sort())
    for (const { fileName, crd } of generated) {
      expect(readFileSync(join(repoRoot, dir, fileName), "utf8"), `${dir}/${fileName} is stale: regenerate it`).toBe(renderCrd(crd))
    }
  })

  it("the CRD kustomization lists every generated file", () => {
    const [kustomization] = readYaml("manifests/base/crds/kustomization.yaml")
    expect([...(kustomization?.["resources"] as Array<string>)].sort()).toEqual(crds().map((c) => c.fileName).sort())
  })

  it("`metallb-ts crds` prints the same CRDs", () => {
    const out = execFileSync(process.execPath, ["shell/main/cli.ts", "crds"], { cwd: repoRoot, encoding: "utf8" })
    expect(out.trimEnd()).toBe(crds().map(({ crd }) => renderCrd(crd)).join("---\n").trimEnd())
  })

  it("every metallb.io (and frrk8s.metallb.io) kind and version core has a Schema for has a CRD version", () => {
    const modules = [bfdProfile, bgpAdvertisement, bgpPeer, community, ipAddressPool, l2Advertisement, status, bgpSessionState]
    const inCore = new Set<string>()
    for (const module of modules) {
      for (const value of Object.values(module)) {
        if (!Schema.isSchema(value)) continue
        const properties = (Schema.toJsonSchemaDocument(value).schema as Json)["properties"] as Record<string, Json> | undefined
        const apiVersion = (properties?.["apiVersion"]?.["enum"] as Array<string> | undefined)?.[0]
        const kind = (properties?.["kind"]?.["enum"] as Array<string> | undefined)?.[0]
        if ((apiVersion?.startsWith("metallb.io/") || apiVersion?.startsWith("frrk8s.metallb.io/")) && kind !== undefined) inCore.add(`${kind} ${apiVersion}`)
      }
    }
    const inCrds = new Set(crds().flatMap(({ crd }) => specOf(crd).versions.map((v) => `${specOf(crd).names.kind} ${(crd["spec"] as { group: string }).group}/${v.name}`)))
    expect([...inCrds].sort()).toEqual([...inCore].sort())
    expect(inCrds.size).toBe(11) // 10 kinds, BGPPeer twice
  })

  it("one storage version each, status subresources, BGPPeer v1beta2 stored and v1beta1 converted by the controller's /convert", () => {
    for (const { crd } of crds()) {
      const spec = specOf(crd)
      expect(spec.versions.filter((v) => v.storage)).toHaveLength(1)
      for (const version of spec.versions) expect(version.subresources).toEqual({ status: {} })
    }
    const peers = specOf(crds().find(({ crd }) => specOf(crd).names.kind === "BGPPeer")!.crd)
    expect(peers.versions.map((v) => [v.name, v.storage, v.deprecated ?? false])).toEqual([["v1beta1", false, true], ["v1beta2", true, false]])
    expect(peers.conversion).toEqual({
      strategy: "Webhook",
      webhook: { conversionReviewVersions: ["v1"], clientConfig: { service: { ...webhookService, path: "/convert" } } },
    })
    const pools = specOf(crds().find(({ crd }) => specOf(crd).names.kind === "IPAddressPool")!.crd)
    expect(pools.versions[0]?.additionalPrinterColumns?.map((c) => c.jsonPath)).toEqual(expect.arrayContaining([
      ".status.assignedIPv4", ".status.availableIPv4", ".status.assignedIPv6", ".status.availableIPv6",
    ]))
  })
})

describe("the generator's guard rails", () => {
  const peerKind = metallbKinds.find((k) => k.kind === "BGPPeer")!
  const v1beta2 = peerKind.versions.find((v) => v.name === "v1beta2")!
  const withRefinement = (refinement: VersionSource["refinements"][number]): KindSource => ({
    ...peerKind,
    versions: [{ ...v1beta2, refinements: [refinement] }],
  })

  it.each([
    ["a minimum below core's", { path: "spec.peerPort", minimum: 0 }, /looser than core's 1/],
    ["a maximum above core's", { path: "spec.peerPort", maximum: 65535 }, /looser than core's 16384/],
    ["a field core does not have", { path: "spec.peerPrt", default: 1 }, /no field "peerPrt"/],
    ["a default of the wrong type", { path: "spec.peerPort", default: "179" }, /not of type integer/],
    ["a default outside the bounds", { path: "spec.peerPort", default: 20000 }, /above the maximum/],
    ["a list map key that is not required", { path: "spec.nodeSelectors", listMapKeys: ["matchLabels"] }, /not a required field/],
  ])("refuses %s", (_, refinement, message) => {
    expect(() => crdFor(withRefinement(refinement))).toThrow(message)
  })

  it("refuses a printer column on a field core does not have", () => {
    expect(() => crdFor({ ...peerKind, versions: [{ ...v1beta2, columns: [{ name: "X", type: "string", jsonPath: ".spec.nope" }] }] })).toThrow(/no field "nope"/)
  })

  it("refuses Schema constructs without a structural form (a union of an object and a string)", () => {
    const schema = Schema.Struct({
      apiVersion: Schema.Literal("metallb.io/v1beta1"),
      kind: Schema.Literal("Odd"),
      metadata: Schema.Struct({ name: Schema.String }),
      spec: Schema.Struct({ either: Schema.Union([Schema.String, Schema.Struct({ a: Schema.String })]) }),
    })
    expect(() => crdFor({ kind: "Odd", plural: "odds", description: "", versions: [{ name: "v1beta1", schema, storage: true, refinements: [], columns: [] }] }))
      .toThrow(/spec\.either/)
  })
})

/** Objects core accepts, to vary one field of. */
const baseSpecs: Record<string, Json> = {
  IPAddressPool: { addresses: ["192.0.2.0/24"] },
  BGPPeer: { myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.1" },
}

interface Leaf {
  readonly path: ReadonlyArray<string>
  readonly schema: Json
}

/** Integer and enum leaves outside arrays (an array element would need a whole valid element around it). */
const leaves = (node: Json, path: ReadonlyArray<string>): Array<Leaf> => {
  if (node["type"] === "integer" || Array.isArray(node["enum"])) return [{ path, schema: node }]
  const properties = node["properties"] as Record<string, Json> | undefined
  return Object.entries(properties ?? {}).flatMap(([name, child]) => leaves(child, [...path, name]))
}

const withValue = (base: Json, path: ReadonlyArray<string>, value: unknown): Json => {
  const [head, ...rest] = path
  if (head === undefined) return base
  return { ...base, [head]: rest.length === 0 ? value : withValue((base[head] as Json | undefined) ?? {}, rest, value) }
}

const coreAccepts = (kind: KindSource, version: VersionSource, path: ReadonlyArray<string>, value: unknown): boolean => {
  if (path[0] === "status" && version.status !== undefined) {
    return Result.isSuccess(Schema.decodeUnknownResult(version.status as Schema.Codec<unknown, unknown>)(withValue({}, path.slice(1), value)))
  }
  const object = withValue({
    apiVersion: `metallb.io/${version.name}`,
    kind: kind.kind,
    metadata: { name: "x", namespace: "metallb-system" },
    spec: baseSpecs[kind.kind] ?? {},
  }, path, value)
  return Result.isSuccess(Schema.decodeUnknownResult(version.schema as Schema.Codec<unknown, unknown>)(object))
}

describe("every value a CRD admits by type, bounds and enum, core's Schema decodes", () => {
  const cases = metallbKinds.flatMap((kind) =>
    kind.versions.flatMap((version) => {
      const crdVersion = specOf(crdFor(kind)).versions.find((v) => v.name === version.name)!
      const root = crdVersion.schema.openAPIV3Schema["properties"] as Record<string, Json>
      return ["spec", "status"].flatMap((top) => leaves(root[top] ?? {}, [top]))
        .map((leaf) => ({ name: `${kind.kind} ${version.name} ${leaf.path.join(".")}`, kind, version, leaf }))
    }))

  it("covers the integer and enum fields", () => {
    expect(cases.length).toBeGreaterThanOrEqual(20)
  })

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_, { kind, version, leaf }) => {
    const enumValues = leaf.schema["enum"] as Array<unknown> | undefined
    if (enumValues !== undefined) {
      for (const value of enumValues) expect(coreAccepts(kind, version, leaf.path, value), String(value)).toBe(true)
      return
    }
    const min = BigInt((leaf.schema["minimum"] as number | undefined) ?? -Number.MAX_SAFE_INTEGER)
    const max = BigInt((leaf.schema["maximum"] as number | undefined) ?? Number.MAX_SAFE_INTEGER)
    const defaultValue = leaf.schema["default"]
    if (defaultValue !== undefined) expect(coreAccepts(kind, version, leaf.path, defaultValue), "default").toBe(true)
    for (const edge of [min, max]) expect(coreAccepts(kind, version, leaf.path, Number(edge)), `edge ${edge}`).toBe(true)
    fc.assert(fc.property(fc.bigInt({ min, max }), (value) => {
      expect(coreAccepts(kind, version, leaf.path, Number(value))).toBe(true)
    }), { numRuns: 100 })
  })
})
