// IPAddressPool (metallb.io/v1beta1): the address ranges services get addresses from.
import { Schema } from "effect"
import { LabelSelectorSchema } from "../selector.ts"
import { Int32, Int64, kindSchema } from "./common.ts"

export const ServiceAllocationSchema = Schema.Struct({
  priority: Schema.optionalKey(Int32),
  namespaces: Schema.optionalKey(Schema.Array(Schema.String)),
  namespaceSelectors: Schema.optionalKey(Schema.Array(LabelSelectorSchema)),
  serviceSelectors: Schema.optionalKey(Schema.Array(LabelSelectorSchema)),
})

export const IPAddressPoolSpecSchema = Schema.Struct({
  addresses: Schema.Array(Schema.String),
  autoAssign: Schema.optionalKey(Schema.Boolean),
  avoidBuggyIPs: Schema.optionalKey(Schema.Boolean),
  serviceAllocation: Schema.optionalKey(ServiceAllocationSchema),
})

export const IPAddressPoolStatusSchema = Schema.Struct({
  assignedIPv4: Schema.optionalKey(Int64),
  assignedIPv6: Schema.optionalKey(Int64),
  availableIPv4: Schema.optionalKey(Int64),
  availableIPv6: Schema.optionalKey(Int64),
})

export const IPAddressPoolSchema = kindSchema("v1beta1", "IPAddressPool", IPAddressPoolSpecSchema)
export type IPAddressPool = typeof IPAddressPoolSchema.Type
