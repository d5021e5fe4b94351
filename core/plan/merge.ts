// The configuration a `plan` predicts for: the live metallb.io objects with the FILEs' objects put in
// place of those of the same kind and name (as `kubectl apply` would), or, with prune, the FILEs alone
// (as a GitOps sync that prunes would leave it). Other kinds in the FILEs are not configuration and are
// left out; which objects are added, changed or removed is said, so the output starts from the edit.
import { type Document, expandLists } from "../config/decode.ts"

export type ObjectChangeKind = "added" | "changed" | "removed" | "unchanged"

export interface ObjectChange {
  readonly kind: string
  readonly name: string
  readonly change: ObjectChangeKind
}

export interface MergedDocuments {
  readonly documents: ReadonlyArray<Document>
  readonly objects: ReadonlyArray<ObjectChange>
  /** Documents of the FILEs that are not metallb.io objects or Secrets (ignored). */
  readonly ignored: number
}

const record = (value: unknown): Readonly<Record<string, unknown>> | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined

interface Identity {
  readonly kind: string
  readonly name: string
  /** API group and kind and name: BGPPeer v1beta1 and v1beta2 are one object. */
  readonly key: string
}

/** The identity of a configuration object (a metallb.io kind or a Secret), undefined for anything else. */
const identityOf = (value: unknown): Identity | undefined => {
  const object = record(value)
  const apiVersion = object?.["apiVersion"]
  const kind = object?.["kind"]
  const name = record(object?.["metadata"])?.["name"]
  if (typeof apiVersion !== "string" || typeof kind !== "string") return undefined
  const group = apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : ""
  if (group !== "metallb.io" && !(apiVersion === "v1" && kind === "Secret")) return undefined
  const named = typeof name === "string" ? name : "<unnamed>"
  return { kind, name: named, key: `${group}/${kind}/${named}` }
}

/** JSON with object keys sorted at every level, so two equal objects compare equal whatever their key order. */
const canonical = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`
  const object = record(value)
  if (object === undefined) return JSON.stringify(value) ?? "null"
  return `{${Object.keys(object).sort().filter((k) => object[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(object[k])}`).join(",")}}`
}

/** What the configuration reads of an object: not status or server-set metadata. */
const content = (value: unknown): string => {
  const { status: _status, metadata, apiVersion: _apiVersion, ...rest } = record(value) ?? {}
  const meta = record(metadata) ?? {}
  // kubectl apply's own record of the last apply is on the live object only.
  const { "kubectl.kubernetes.io/last-applied-configuration": _applied, ...annotations } = record(meta["annotations"]) ?? {}
  return canonical({ ...rest, labels: meta["labels"] ?? {}, annotations })
}

export const mergeDocuments = (
  live: ReadonlyArray<Document>,
  files: ReadonlyArray<Document>,
  options: { readonly prune: boolean },
): MergedDocuments => {
  const given: Array<{ readonly document: Document; readonly id: Identity }> = []
  let ignored = 0
  for (const document of files.flatMap((d) => expandLists(d))) {
    const id = identityOf(document.value)
    if (id === undefined) {
      if (record(document.value) !== undefined) ignored += 1
      continue
    }
    given.push({ document, id })
  }
  const liveObjects = live.flatMap((d) => expandLists(d)).map((document) => ({ document, id: identityOf(document.value) }))
  const liveByKey = new Map(liveObjects.flatMap(({ document, id }) => (id === undefined ? [] : [[id.key, document] as const])))
  const givenKeys = new Set(given.map((g) => g.id.key))
  const objects: Array<ObjectChange> = []
  const seen = new Set<string>()
  for (const { document, id } of given) {
    // A name given twice is resolve()'s DuplicateName error; it is one object here.
    if (seen.has(id.key)) continue
    seen.add(id.key)
    const before = liveByKey.get(id.key)
    const change = before === undefined ? "added" : content(before.value) === content(document.value) ? "unchanged" : "changed"
    objects.push({ kind: id.kind, name: id.name, change })
  }
  const kept = liveObjects.filter(({ id }) => id === undefined || !givenKeys.has(id.key))
  if (options.prune) {
    for (const { id } of kept) if (id !== undefined && id.kind !== "Secret") objects.push({ kind: id.kind, name: id.name, change: "removed" })
  }
  // Pruning removes the metallb.io objects; the namespace's Secrets are not the FILEs' to remove.
  const staying = options.prune ? kept.filter(({ id }) => id?.kind === "Secret") : kept
  return {
    documents: [...staying.map(({ document }) => document), ...given.map(({ document }) => document)],
    objects: objects.sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name)),
    ignored,
  }
}
