// BFDProfile (metallb.io/v1beta1): BFD timers a BGPPeer refers to by name. Ranges are the CRD's.
import { Schema } from "effect"
import { between, kindSchema } from "./common.ts"

export const BFDProfileSpecSchema = Schema.Struct({
  receiveInterval: Schema.optionalKey(between(10, 60000)),
  transmitInterval: Schema.optionalKey(between(10, 60000)),
  detectMultiplier: Schema.optionalKey(between(2, 255)),
  echoInterval: Schema.optionalKey(between(10, 60000)),
  echoMode: Schema.optionalKey(Schema.Boolean),
  passiveMode: Schema.optionalKey(Schema.Boolean),
  minimumTtl: Schema.optionalKey(between(1, 254)),
})

export const BFDProfileSchema = kindSchema("v1beta1", "BFDProfile", BFDProfileSpecSchema)
export type BFDProfile = typeof BFDProfileSchema.Type
