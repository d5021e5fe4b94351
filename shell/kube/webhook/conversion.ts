// The /convert webhook: ConversionReview v1 (apiextensions.k8s.io) for BGPPeer between v1beta1 and
// v1beta2, using core's conversions (lossless: v1beta2-only fields ride along in an annotation). The API
// server needs every object converted or none: one object that cannot be converted fails the review
// with a message naming it. Objects already in the desired version pass through untouched.
import { Data, Result, Schema } from "effect"
import { BGPPeerSchema, BGPPeerV1beta1Schema, convertV1beta1ToV1beta2, convertV1beta2ToV1beta1 } from "../../../core/config/kinds/bgp-peer.ts"
import { MalformedReview } from "./admission.ts"

const versions = ["metallb.io/v1beta1", "metallb.io/v1beta2"] as const

const ConversionReviewSchema = Schema.Struct({
  apiVersion: Schema.Literal("apiextensions.k8s.io/v1"),
  kind: Schema.Literal("ConversionReview"),
  request: Schema.Struct({
    uid: Schema.NonEmptyString,
    desiredAPIVersion: Schema.String,
    objects: Schema.Array(Schema.Unknown),
  }),
})
export type ConversionRequest = (typeof ConversionReviewSchema.Type)["request"]

export interface ConversionReviewResponse {
  readonly apiVersion: "apiextensions.k8s.io/v1"
  readonly kind: "ConversionReview"
  readonly response: {
    readonly uid: string
    readonly convertedObjects: ReadonlyArray<unknown>
    readonly result: { readonly status: "Success" } | { readonly status: "Failure"; readonly message: string }
  }
}

class NotConvertible extends Data.TaggedError("NotConvertible")<{ readonly message: string }> {}

export const decodeConversionReview = (body: unknown): Result.Result<ConversionRequest, MalformedReview> => {
  const decoded = Schema.decodeUnknownResult(ConversionReviewSchema)(body, { errors: "all" })
  return Result.isFailure(decoded)
    ? Result.fail(new MalformedReview({ message: `not an apiextensions.k8s.io/v1 ConversionReview: ${decoded.failure.message}` }))
    : Result.succeed(decoded.success.request)
}

const describe = (object: unknown, index: number): string => {
  const metadata = typeof object === "object" && object !== null ? (object as { metadata?: { name?: unknown; namespace?: unknown } }).metadata : undefined
  const name = typeof metadata?.name === "string" ? metadata.name : `#${index}`
  return typeof metadata?.namespace === "string" ? `${metadata.namespace}/${name}` : name
}

const convertOne = (object: unknown, desired: string): Result.Result<unknown, NotConvertible> => {
  const record = typeof object === "object" && object !== null && !Array.isArray(object) ? (object as Record<string, unknown>) : undefined
  if (record?.["kind"] !== "BGPPeer") return Result.fail(new NotConvertible({ message: `is not a BGPPeer (kind ${JSON.stringify(record?.["kind"])})` }))
  const from = record["apiVersion"]
  if (from === desired) return Result.succeed(object)
  if (from === "metallb.io/v1beta1" && desired === "metallb.io/v1beta2") {
    const decoded = Schema.decodeUnknownResult(BGPPeerV1beta1Schema)(object)
    return Result.isFailure(decoded)
      ? Result.fail(new NotConvertible({ message: `is not a valid v1beta1 BGPPeer: ${decoded.failure.message}` }))
      : Result.succeed(convertV1beta1ToV1beta2(decoded.success))
  }
  if (from === "metallb.io/v1beta2" && desired === "metallb.io/v1beta1") {
    const decoded = Schema.decodeUnknownResult(BGPPeerSchema)(object)
    return Result.isFailure(decoded)
      ? Result.fail(new NotConvertible({ message: `is not a valid v1beta2 BGPPeer: ${decoded.failure.message}` }))
      : Result.succeed(convertV1beta2ToV1beta1(decoded.success))
  }
  return Result.fail(new NotConvertible({ message: `cannot be converted from ${JSON.stringify(from)} (served: ${versions.join(", ")})` }))
}

/** The response for one request. Pure. */
export const convert = (request: ConversionRequest): ConversionReviewResponse => {
  const envelope = (convertedObjects: ReadonlyArray<unknown>, result: ConversionReviewResponse["response"]["result"]): ConversionReviewResponse => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "ConversionReview",
    response: { uid: request.uid, convertedObjects, result },
  })
  if (!(versions as ReadonlyArray<string>).includes(request.desiredAPIVersion)) {
    return envelope([], { status: "Failure", message: `cannot convert BGPPeers to ${JSON.stringify(request.desiredAPIVersion)} (served: ${versions.join(", ")})` })
  }
  const converted: Array<unknown> = []
  const failures: Array<string> = []
  request.objects.forEach((object, index) => {
    const result = convertOne(object, request.desiredAPIVersion)
    if (Result.isFailure(result)) failures.push(`BGPPeer ${describe(object, index)} ${result.failure.message}`)
    else converted.push(result.success)
  })
  return failures.length > 0
    ? envelope([], { status: "Failure", message: failures.join("\n") })
    : envelope(converted, { status: "Success" })
}
