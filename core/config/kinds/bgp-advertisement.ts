// BGPAdvertisement (metallb.io/v1beta1): which pools are announced over BGP, to which peers, from
// which nodes, with which aggregation, LOCAL_PREF and communities.
import { Schema } from "effect"
import { LabelSelectorSchema } from "../selector.ts"
import { Int32, kindSchema, Uint32 } from "./common.ts"

export const BGPAdvertisementSpecSchema = Schema.Struct({
  aggregationLength: Schema.optionalKey(Int32),
  aggregationLengthV6: Schema.optionalKey(Int32),
  localPref: Schema.optionalKey(Uint32),
  communities: Schema.optionalKey(Schema.Array(Schema.String)),
  ipAddressPools: Schema.optionalKey(Schema.Array(Schema.String)),
  ipAddressPoolSelectors: Schema.optionalKey(Schema.Array(LabelSelectorSchema)),
  nodeSelectors: Schema.optionalKey(Schema.Array(LabelSelectorSchema)),
  peers: Schema.optionalKey(Schema.Array(Schema.String)),
  serviceSelectors: Schema.optionalKey(Schema.Array(LabelSelectorSchema)),
})

export const BGPAdvertisementSchema = kindSchema("v1beta1", "BGPAdvertisement", BGPAdvertisementSpecSchema)
export type BGPAdvertisement = typeof BGPAdvertisementSchema.Type
