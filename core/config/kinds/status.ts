// Status-only kinds (metallb.io/v1beta1): the speaker's ServiceL2Status / ServiceBGPStatus per service
// and node, and the ConfigurationState the controller and each speaker publish about their config.
import { Schema } from "effect"
import { ObjectMetaSchema } from "./common.ts"

const statusKind = <const Kind extends string, Status extends Schema.Top>(kind: Kind, status: Status) =>
  Schema.Struct({
    apiVersion: Schema.Literal("metallb.io/v1beta1"),
    kind: Schema.Literal(kind),
    metadata: ObjectMetaSchema,
    spec: Schema.optionalKey(Schema.Struct({})),
    status: Schema.optionalKey(status),
  })

const serviceStatusFields = {
  node: Schema.optionalKey(Schema.String),
  serviceName: Schema.optionalKey(Schema.String),
  serviceNamespace: Schema.optionalKey(Schema.String),
}

export const ServiceL2StatusSchema = statusKind("ServiceL2Status", Schema.Struct({
  ...serviceStatusFields,
  interfaces: Schema.optionalKey(Schema.Array(Schema.Struct({ name: Schema.String }))),
}))
export type ServiceL2Status = typeof ServiceL2StatusSchema.Type

export const ServiceBGPStatusSchema = statusKind("ServiceBGPStatus", Schema.Struct({
  ...serviceStatusFields,
  peers: Schema.optionalKey(Schema.Array(Schema.String)),
}))
export type ServiceBGPStatus = typeof ServiceBGPStatusSchema.Type

export const ConditionSchema = Schema.Struct({
  type: Schema.String,
  status: Schema.Literals(["True", "False", "Unknown"]),
  reason: Schema.String,
  message: Schema.String,
  lastTransitionTime: Schema.String,
  observedGeneration: Schema.optionalKey(Schema.Int),
})

export const ConfigurationResult = Schema.Literals(["Valid", "Invalid", "Unknown"])

export const ConfigurationStateSchema = statusKind("ConfigurationState", Schema.Struct({
  result: Schema.optionalKey(ConfigurationResult),
  errorSummary: Schema.optionalKey(Schema.String),
  conditions: Schema.optionalKey(Schema.Array(ConditionSchema)),
}))
export type ConfigurationState = typeof ConfigurationStateSchema.Type
