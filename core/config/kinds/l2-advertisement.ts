// L2Advertisement (metallb.io/v1beta1): which pools are announced over ARP/NDP, from which nodes and
// interfaces, and which nodes are preferred as announcers.
import { Schema } from "effect"
import { LabelSelectorSchema } from "../selector.ts"
import { between, kindSchema } from "./common.ts"

export const PreferredNodeSelectorSchema = Schema.Struct({
  weight: between(1, 100),
  preference: LabelSelectorSchema,
})

export const L2AdvertisementSpecSchema = Schema.Struct({
  ipAddressPools: Schema.optionalKey(Schema.Array(Schema.String)),
  ipAddressPoolSelectors: Schema.optionalKey(Schema.Array(LabelSelectorSchema)),
  nodeSelectors: Schema.optionalKey(Schema.Array(LabelSelectorSchema)),
  interfaces: Schema.optionalKey(Schema.Array(Schema.String)),
  serviceSelectors: Schema.optionalKey(Schema.Array(LabelSelectorSchema)),
  preferredNodeSelectors: Schema.optionalKey(Schema.Array(PreferredNodeSelectorSchema)),
})

export const L2AdvertisementSchema = kindSchema("v1beta1", "L2Advertisement", L2AdvertisementSpecSchema)
export type L2Advertisement = typeof L2AdvertisementSchema.Type
