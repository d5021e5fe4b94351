// Untrusted documents -> typed metallb.io objects. Each document is matched on apiVersion and kind;
// other kinds are ignored (a manifest may hold Deployments too), Secrets are kept for passwordSecret,
// Nodes (name and labels) for the rules that decide on the real nodes, Lists stand for their items,
// BGPPeer v1beta1 is converted to v1beta2. Every schema violation becomes a ConfigError naming the
// object, the field path and the value found; decoding never throws, whatever the input.
import { Result, Schema, SchemaIssue } from "effect"
import { type ConfigError, configError, fieldPath, type ObjectRef, type Source } from "./errors.ts"
import { type BFDProfile, BFDProfileSchema } from "./kinds/bfd-profile.ts"
import { type BGPAdvertisement, BGPAdvertisementSchema } from "./kinds/bgp-advertisement.ts"
import { type BGPPeer, BGPPeerSchema, BGPPeerV1beta1Schema, convertV1beta1ToV1beta2 } from "./kinds/bgp-peer.ts"
import { type Community, CommunitySchema } from "./kinds/community.ts"
import { type IPAddressPool, IPAddressPoolSchema } from "./kinds/ip-address-pool.ts"
import { type L2Advertisement, L2AdvertisementSchema } from "./kinds/l2-advertisement.ts"

export const SecretSchema = Schema.Struct({
  apiVersion: Schema.Literal("v1"),
  kind: Schema.Literal("Secret"),
  metadata: Schema.StructWithRest(
    Schema.Struct({ name: Schema.String, namespace: Schema.optionalKey(Schema.String) }),
    [Schema.Record(Schema.String, Schema.Unknown)],
  ),
  type: Schema.optionalKey(Schema.String),
  data: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  stringData: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
})
export type Secret = typeof SecretSchema.Type

/**
 * A Node, for the rules that decide on the real nodes (peers, LOCAL_PREF): only name and labels are
 * read; whatever else a Node carries (spec, status, other metadata) is kept unread.
 */
export const NodeSchema = Schema.StructWithRest(
  Schema.Struct({
    apiVersion: Schema.Literal("v1"),
    kind: Schema.Literal("Node"),
    metadata: Schema.StructWithRest(
      Schema.Struct({ name: Schema.String, labels: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)) }),
      [Schema.Record(Schema.String, Schema.Unknown)],
    ),
  }),
  [Schema.Record(Schema.String, Schema.Unknown)],
)
export type Node = typeof NodeSchema.Type

export interface Document {
  readonly value: unknown
  readonly source?: Source
}

export interface Located<T> {
  readonly object: T
  readonly ref: ObjectRef
}

export interface DecodedObjects {
  readonly pools: ReadonlyArray<Located<IPAddressPool>>
  readonly l2Advertisements: ReadonlyArray<Located<L2Advertisement>>
  readonly bgpAdvertisements: ReadonlyArray<Located<BGPAdvertisement>>
  readonly peers: ReadonlyArray<Located<BGPPeer>>
  readonly bfdProfiles: ReadonlyArray<Located<BFDProfile>>
  readonly communities: ReadonlyArray<Located<Community>>
  readonly secrets: ReadonlyArray<Located<Secret>>
  readonly nodes: ReadonlyArray<Located<Node>>
}

const kinds = {
  "metallb.io/v1beta1/IPAddressPool": { schema: IPAddressPoolSchema, list: "pools" },
  "metallb.io/v1beta1/L2Advertisement": { schema: L2AdvertisementSchema, list: "l2Advertisements" },
  "metallb.io/v1beta1/BGPAdvertisement": { schema: BGPAdvertisementSchema, list: "bgpAdvertisements" },
  "metallb.io/v1beta2/BGPPeer": { schema: BGPPeerSchema, list: "peers" },
  "metallb.io/v1beta1/BGPPeer": { schema: BGPPeerV1beta1Schema, list: "peers" },
  "metallb.io/v1beta1/BFDProfile": { schema: BFDProfileSchema, list: "bfdProfiles" },
  "metallb.io/v1beta1/Community": { schema: CommunitySchema, list: "communities" },
  "v1/Secret": { schema: SecretSchema, list: "secrets" },
  "v1/Node": { schema: NodeSchema, list: "nodes" },
} as const

/** Kinds whose spec fields are all optional: MetalLB's own examples omit `spec` for them entirely. */
const specOptional = new Set(["L2Advertisement", "BGPAdvertisement", "BFDProfile", "Community"])

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const valueAt = (root: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let at: unknown = root
  for (const key of path) {
    if (typeof at !== "object" || at === null) return undefined
    at = (at as Record<PropertyKey, unknown>)[key]
  }
  return at
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Bounds how deep Lists inside Lists are opened (kubectl never nests them; a hostile input might). */
const maxListDepth = 4

/**
 * A List (`kubectl get nodes,ipaddresspools -o yaml` prints `kind: List`; the API's own are NodeList,
 * IPAddressPoolList ...) stands for its items, each keeping the List's source.
 */
export const expandLists = (document: Document, depth = 0): ReadonlyArray<Document> => {
  const { value, source } = document
  if (depth >= maxListDepth || !isRecord(value) || typeof value["kind"] !== "string" || !value["kind"].endsWith("List") || !Array.isArray(value["items"])) return [document]
  return value["items"].flatMap((item: unknown) => expandLists({ value: item, ...(source === undefined ? {} : { source }) }, depth + 1))
}

export const decodeDocuments = (documents: ReadonlyArray<Document>): { readonly objects: DecodedObjects; readonly errors: ReadonlyArray<ConfigError> } => {
  const lists: Record<keyof DecodedObjects, Array<Located<unknown>>> = {
    pools: [], l2Advertisements: [], bgpAdvertisements: [], peers: [], bfdProfiles: [], communities: [], secrets: [], nodes: [],
  }
  const errors: Array<ConfigError> = []
  for (const { value, source } of documents.flatMap((d) => expandLists(d))) {
    if (!isRecord(value)) continue // empty YAML documents, lists of scalars: nothing of ours
    const apiVersion = typeof value["apiVersion"] === "string" ? value["apiVersion"] : ""
    const kind = typeof value["kind"] === "string" ? value["kind"] : ""
    const entry = (kinds as Record<string, { schema: Schema.Top; list: keyof DecodedObjects }>)[`${apiVersion}/${kind}`]
    const metadata = isRecord(value["metadata"]) ? value["metadata"] : {}
    const ref: ObjectRef = {
      kind,
      name: typeof metadata["name"] === "string" ? metadata["name"] : "<unnamed>",
      ...(typeof metadata["namespace"] === "string" ? { namespace: metadata["namespace"] } : {}),
      ...(source === undefined ? {} : { source }),
    }
    if (entry === undefined) {
      if (apiVersion.startsWith("metallb.io/")) {
        errors.push(configError({ code: "InvalidObject", object: ref, field: "apiVersion", value: `${apiVersion} ${kind}`, message: "not a metallb.io kind and version this release serves" }))
      }
      continue
    }
    const input = specOptional.has(kind) && value["spec"] === undefined ? { ...value, spec: {} } : value
    const decoded = Schema.decodeUnknownResult(entry.schema as Schema.Codec<unknown, unknown>)(input, { errors: "all", onExcessProperty: "error" })
    if (Result.isFailure(decoded)) {
      for (const issue of formatter(decoded.failure.issue).issues) {
        const path = (issue.path ?? []).map((p) => (typeof p === "object" && p !== null && "key" in p ? p.key : p)) as Array<PropertyKey>
        const found = valueAt(value, path)
        errors.push(configError({
          code: "InvalidObject",
          object: ref,
          field: fieldPath(path) || "<object>",
          ...(found === undefined ? {} : { value: found }),
          message: issue.message,
        }))
      }
      continue
    }
    const object = entry.list === "peers" && apiVersion === "metallb.io/v1beta1"
      ? convertV1beta1ToV1beta2(decoded.success as never)
      : decoded.success
    lists[entry.list].push({ object, ref })
  }
  return { objects: lists as unknown as DecodedObjects, errors }
}
