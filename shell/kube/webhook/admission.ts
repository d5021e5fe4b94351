// Whether a write to a metallb.io object may happen: MetalLB's webhook semantics (take the namespace's
// configuration as it is, substitute the new object or remove the deleted one, run the whole parser)
// with one difference that matters on a live cluster: only permanent errors the change introduces
// refuse it. Errors already present (keyed by code, object and field) never block an unrelated edit,
// transient ones (a Secret not created yet) are let through as warnings, and so are core's warnings.
// BGPPeer updates also keep enableGracefulRestart, and a BFDProfile in use cannot be deleted.
// The AdmissionReview envelope is decoded here; anything not shaped like one is a MalformedReview.
import { Data, Result, Schema } from "effect"
import { checkBfdProfileDelete, checkPeerUpdate } from "../../../core/config/changes.ts"
import { decodeDocuments, type Document, type Located } from "../../../core/config/decode.ts"
import { type ConfigError, configError, formatConfigError, type ObjectRef } from "../../../core/config/errors.ts"
import type { BGPPeer } from "../../../core/config/kinds/bgp-peer.ts"
import { resolve } from "../../../core/config/resolve.ts"
import { type ClusterObjects, secretDocument } from "./source.ts"

export class MalformedReview extends Data.TaggedError("MalformedReview")<{ readonly message: string }> {}

const GroupVersionKind = Schema.Struct({ group: Schema.String, version: Schema.String, kind: Schema.String })

export const AdmissionRequestSchema = Schema.Struct({
  uid: Schema.NonEmptyString,
  kind: GroupVersionKind,
  operation: Schema.Literals(["CREATE", "UPDATE", "DELETE", "CONNECT"]),
  name: Schema.optionalKey(Schema.String),
  namespace: Schema.optionalKey(Schema.String),
  object: Schema.optionalKey(Schema.Unknown),
  oldObject: Schema.optionalKey(Schema.Unknown),
  dryRun: Schema.optionalKey(Schema.Boolean),
})
export type AdmissionRequest = typeof AdmissionRequestSchema.Type

const AdmissionReviewSchema = Schema.Struct({
  apiVersion: Schema.Literal("admission.k8s.io/v1"),
  kind: Schema.Literal("AdmissionReview"),
  request: AdmissionRequestSchema,
})

export interface AdmissionResponse {
  readonly uid: string
  readonly allowed: boolean
  readonly status?: { readonly code: number; readonly reason?: string; readonly message: string }
  readonly warnings?: ReadonlyArray<string>
}

export interface AdmissionReviewResponse {
  readonly apiVersion: "admission.k8s.io/v1"
  readonly kind: "AdmissionReview"
  readonly response: AdmissionResponse
}

/** The kinds admission judges, by the path segment MetalLB's webhook paths use. */
export const admittedKinds = {
  "v1beta1-ipaddresspool": "IPAddressPool",
  "v1beta1-l2advertisement": "L2Advertisement",
  "v1beta1-bgpadvertisement": "BGPAdvertisement",
  "v1beta2-bgppeer": "BGPPeer",
  "v1beta1-bgppeer": "BGPPeer",
  "v1beta1-bfdprofile": "BFDProfile",
  "v1beta1-community": "Community",
} as const
export type AdmittedKind = (typeof admittedKinds)[keyof typeof admittedKinds]

export const decodeAdmissionReview = (body: unknown, kind: AdmittedKind): Result.Result<AdmissionRequest, MalformedReview> => {
  const decoded = Schema.decodeUnknownResult(AdmissionReviewSchema)(body, { errors: "all" })
  if (Result.isFailure(decoded)) return Result.fail(new MalformedReview({ message: `not an admission.k8s.io/v1 AdmissionReview: ${decoded.failure.message}` }))
  const request = decoded.success.request
  if (request.kind.group !== "metallb.io" || request.kind.kind !== kind) {
    return Result.fail(new MalformedReview({ message: `this endpoint judges metallb.io ${kind}, not ${request.kind.group}/${request.kind.version} ${request.kind.kind}` }))
  }
  const needed = request.operation === "DELETE" ? "oldObject" : request.operation === "CONNECT" ? undefined : "object"
  if (needed !== undefined && !isRecord(request[needed])) {
    return Result.fail(new MalformedReview({ message: `a ${request.operation} review needs request.${needed}` }))
  }
  return Result.succeed(request)
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const metadataOf = (object: unknown): { readonly name?: string; readonly namespace?: string } => {
  const metadata = isRecord(object) && isRecord(object["metadata"]) ? object["metadata"] : {}
  return {
    ...(typeof metadata["name"] === "string" ? { name: metadata["name"] } : {}),
    ...(typeof metadata["namespace"] === "string" ? { namespace: metadata["namespace"] } : {}),
  }
}

/**
 * The API server writes an emptied map as null (server-side apply removing the last label sends
 * `labels: null`); Kubernetes reads null as empty, core's schema does not, so null maps are dropped.
 */
const withoutNullMaps = (object: unknown): unknown => {
  if (!isRecord(object) || !isRecord(object["metadata"])) return object
  const { labels, annotations, ...metadata } = object["metadata"]
  return {
    ...object,
    metadata: { ...metadata, ...(labels == null ? {} : { labels }), ...(annotations == null ? {} : { annotations }) },
  }
}

const kindOf = (object: unknown): string => (isRecord(object) && typeof object["kind"] === "string" ? object["kind"] : "")

const errorKey = (e: ConfigError): string => JSON.stringify([e.code, e.object.kind, e.object.namespace ?? "", e.object.name, e.field])

const concerns = (e: ConfigError, kind: string, name: string): boolean =>
  (e.object.kind === kind && e.object.name === name) || (e.other?.object.kind === kind && e.other.object.name === name)

const allErrors = (documents: ReadonlyArray<Document>, namespace: string, nodes: ClusterObjects["nodes"]): ReadonlyArray<ConfigError> => {
  const resolution = resolve(documents, { namespace, secrets: [], ...(nodes === undefined ? {} : { nodes }) })
  return resolution._tag === "Valid" ? resolution.warnings : [...resolution.errors, ...resolution.warnings]
}

const locate = (object: unknown): Located<BGPPeer> | undefined => decodeDocuments([{ value: object }]).objects.peers[0]

const allow = (uid: string, warnings: ReadonlyArray<string>): AdmissionResponse => ({ uid, allowed: true, ...(warnings.length > 0 ? { warnings } : {}) })

const deny = (uid: string, errors: ReadonlyArray<ConfigError>, warnings: ReadonlyArray<string>): AdmissionResponse => ({
  uid,
  allowed: false,
  status: { code: 403, reason: "Forbidden", message: errors.map(formatConfigError).join("\n") },
  ...(warnings.length > 0 ? { warnings } : {}),
})

/** The decision for one request against the namespace's current objects. Pure. */
export const admit = (request: AdmissionRequest, kind: AdmittedKind, current: ClusterObjects, namespace: string): AdmissionResponse => {
  if (request.operation === "CONNECT") return allow(request.uid, [])
  const subject = request.operation === "DELETE" ? request.oldObject : request.object
  const meta = metadataOf(subject)
  const name = meta.name ?? request.name ?? ""
  const objectNamespace = meta.namespace ?? request.namespace
  const ref: ObjectRef = { kind, name, ...(objectNamespace === undefined ? {} : { namespace: objectNamespace }) }
  if (objectNamespace !== namespace) {
    // Deleting what metallb-ts never reads cannot hurt it; creating it would be silently ignored.
    if (request.operation === "DELETE") return allow(request.uid, [])
    return deny(request.uid, [configError({
      code: "WrongNamespace",
      object: ref,
      field: "metadata.namespace",
      ...(objectNamespace === undefined ? {} : { value: objectNamespace }),
      message: `metallb-ts only reads metallb.io objects in namespace ${JSON.stringify(namespace)}`,
    })], [])
  }

  const isSubject = (object: unknown) => {
    const m = metadataOf(object)
    return kindOf(object) === kind && m.name === name && (m.namespace ?? namespace) === namespace
  }
  const existing = current.objects.filter((o) => (metadataOf(o).namespace ?? namespace) === namespace).map(withoutNullMaps)
  const secrets = current.secrets.map((s) => secretDocument(s, namespace))
  const before: Array<Document> = [...existing.map((value) => ({ value })), ...secrets]
  const after: Array<Document> = [
    ...existing.filter((o) => !isSubject(o)).map((value) => ({ value })),
    ...(request.operation === "DELETE" ? [] : [{ value: withoutNullMaps(request.object) }]),
    ...secrets,
  ]

  const errorsBefore = allErrors(before, namespace, current.nodes)
  const errorsAfter = allErrors(after, namespace, current.nodes)
  const known = new Set(errorsBefore.map(errorKey))
  const introduced = errorsAfter.filter((e) => e.severity === "permanent" && !known.has(errorKey(e)))

  const changeErrors: Array<ConfigError> = []
  if (kind === "BGPPeer" && request.operation === "UPDATE") {
    const was = locate(withoutNullMaps(request.oldObject))
    const now = locate(withoutNullMaps(request.object))
    if (was !== undefined && now !== undefined) changeErrors.push(...checkPeerUpdate(was.object, now))
  }
  if (kind === "BFDProfile" && request.operation === "DELETE") {
    changeErrors.push(...checkBfdProfileDelete(ref, decodeDocuments(after).objects.peers))
  }

  // Told, not refused: what this change newly causes but may heal or is accepted, and what was already
  // wrong with this very object (the edit does not fix it).
  const warnings = errorsAfter
    .filter((e) => !introduced.includes(e) && (!known.has(errorKey(e)) || concerns(e, kind, name)))
    .map(formatConfigError)
  const refusal = [...changeErrors, ...introduced]
  return refusal.length > 0 ? deny(request.uid, refusal, warnings) : allow(request.uid, warnings)
}

export const admissionReview = (response: AdmissionResponse): AdmissionReviewResponse => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  response,
})
