// Community (metallb.io/v1beta1): names for BGP community values, usable in BGPAdvertisements.
import { Schema } from "effect"
import { kindSchema } from "./common.ts"

export const CommunityAliasSchema = Schema.Struct({ name: Schema.String, value: Schema.String })

export const CommunitySpecSchema = Schema.Struct({
  communities: Schema.optionalKey(Schema.Array(CommunityAliasSchema)),
})

export const CommunitySchema = kindSchema("v1beta1", "Community", CommunitySpecSchema)
export type Community = typeof CommunitySchema.Type
