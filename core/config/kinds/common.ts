// The envelope every metallb.io object shares, and number types matching the CRDs' integer formats.
// Metadata keeps whatever else the API server adds (uid, resourceVersion, managedFields ...): only the
// fields configuration reads are typed.
import { Schema } from "effect"

export const metallbGroup = "metallb.io"

export const ObjectMetaSchema = Schema.StructWithRest(
  Schema.Struct({
    name: Schema.String,
    namespace: Schema.optionalKey(Schema.String),
    labels: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
    annotations: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  }),
  [Schema.Record(Schema.String, Schema.Unknown)],
)
export type ObjectMeta = typeof ObjectMetaSchema.Type

export const Uint32 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4294967295 }))
export const Int32 = Schema.Int.check(Schema.isBetween({ minimum: -2147483648, maximum: 2147483647 }))
export const Int64 = Schema.Int

export const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** A metallb.io kind: apiVersion and kind fixed, metadata, and the given spec (and optional status). */
export const kindSchema = <const Kind extends string, const Version extends string, Spec extends Schema.Top>(
  version: Version,
  kind: Kind,
  spec: Spec,
) =>
  Schema.Struct({
    apiVersion: Schema.Literal(`${metallbGroup}/${version}` as `metallb.io/${Version}`),
    kind: Schema.Literal(kind),
    metadata: ObjectMetaSchema,
    spec,
    status: Schema.optionalKey(Schema.Unknown),
  })
