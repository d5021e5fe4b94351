// BGPPeer in both served versions: v1beta2 (storage) and v1beta1, with the v1beta1 -> v1beta2
// conversion the /convert webhook performs. One deliberate difference from MetalLB: an unset v1beta1
// holdTime stays unset (MetalLB's conversion turns it into "0s", which silently disables the hold
// timer); every other field maps one to one.
import { Schema } from "effect"
import { LabelSelectorSchema } from "../selector.ts"
import { between, kindSchema, Uint32 } from "./common.ts"

const DurationText = Schema.String

export const SecretReferenceSchema = Schema.Struct({
  name: Schema.optionalKey(Schema.String),
  namespace: Schema.optionalKey(Schema.String),
})

export const BGPPeerV1beta2SpecSchema = Schema.Struct({
  myASN: Uint32,
  peerASN: Schema.optionalKey(Uint32),
  dynamicASN: Schema.optionalKey(Schema.Literals(["internal", "external"])),
  localASN: Schema.optionalKey(Uint32),
  peerAddress: Schema.optionalKey(Schema.String),
  interface: Schema.optionalKey(Schema.String),
  sourceAddress: Schema.optionalKey(Schema.String),
  peerPort: Schema.optionalKey(between(1, 16384)),
  holdTime: Schema.optionalKey(DurationText),
  keepaliveTime: Schema.optionalKey(DurationText),
  connectTime: Schema.optionalKey(DurationText),
  routerID: Schema.optionalKey(Schema.String),
  nodeSelectors: Schema.optionalKey(Schema.Array(LabelSelectorSchema)),
  password: Schema.optionalKey(Schema.String),
  passwordSecret: Schema.optionalKey(SecretReferenceSchema),
  bfdProfile: Schema.optionalKey(Schema.String),
  enableGracefulRestart: Schema.optionalKey(Schema.Boolean),
  ebgpMultiHop: Schema.optionalKey(Schema.Boolean),
  vrf: Schema.optionalKey(Schema.String),
  disableMP: Schema.optionalKey(Schema.Boolean),
  dualStackAddressFamily: Schema.optionalKey(Schema.Boolean),
})

export const BGPPeerSchema = kindSchema("v1beta2", "BGPPeer", BGPPeerV1beta2SpecSchema)
export type BGPPeer = typeof BGPPeerSchema.Type

export const BGPPeerV1beta1SpecSchema = Schema.Struct({
  myASN: Uint32,
  peerASN: Uint32,
  peerAddress: Schema.String,
  sourceAddress: Schema.optionalKey(Schema.String),
  peerPort: Schema.optionalKey(between(1, 16384)),
  holdTime: Schema.optionalKey(DurationText),
  keepaliveTime: Schema.optionalKey(DurationText),
  routerID: Schema.optionalKey(Schema.String),
  nodeSelectors: Schema.optionalKey(Schema.Array(LabelSelectorSchema)),
  password: Schema.optionalKey(Schema.String),
  bfdProfile: Schema.optionalKey(Schema.String),
  ebgpMultiHop: Schema.optionalKey(Schema.Boolean),
})

export const BGPPeerV1beta1Schema = kindSchema("v1beta1", "BGPPeer", BGPPeerV1beta1SpecSchema)
export type BGPPeerV1beta1 = typeof BGPPeerV1beta1Schema.Type

/** Fields v1beta1 lacks are kept in this annotation by v1beta2 -> v1beta1, so a round trip loses nothing. */
export const lostInV1beta1Annotation = "metallb-ts.io/v1beta2-fields"

const V1beta2OnlySchema = BGPPeerV1beta2SpecSchema.mapFields(({ dynamicASN, localASN, interface: iface, connectTime, passwordSecret, enableGracefulRestart, vrf, disableMP, dualStackAddressFamily }) =>
  ({
    dynamicASN, localASN, interface: iface, connectTime, passwordSecret, enableGracefulRestart, vrf, disableMP, dualStackAddressFamily,
    // v1beta1 requires peerASN and peerAddress; these record that v1beta2 had none (dynamicASN / interface peers).
    absent: Schema.optionalKey(Schema.Array(Schema.Literals(["peerASN", "peerAddress"]))),
  }))

const restoreV1beta2Fields = (annotations: Readonly<Record<string, string>> | undefined) => {
  const text = annotations?.[lostInV1beta1Annotation]
  if (text === undefined) return {}
  try {
    return Schema.decodeUnknownSync(V1beta2OnlySchema)(JSON.parse(text))
  } catch {
    return {} // a hand-edited, unreadable annotation is ignored rather than failing the conversion
  }
}

export const convertV1beta1ToV1beta2 = (peer: BGPPeerV1beta1): BGPPeer => {
  const { [lostInV1beta1Annotation]: _lost, ...annotations } = peer.metadata.annotations ?? {}
  const { metadata: { annotations: _all, ...metadata } } = peer
  const { absent = [], ...restored } = restoreV1beta2Fields(peer.metadata.annotations)
  const spec: Record<string, unknown> = { ...peer.spec, ...restored }
  for (const key of absent) delete spec[key]
  return {
    ...peer,
    apiVersion: "metallb.io/v1beta2",
    metadata: { ...metadata, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
    spec: spec as BGPPeer["spec"],
  }
}

export const convertV1beta2ToV1beta1 = (peer: BGPPeer): BGPPeerV1beta1 => {
  const { dynamicASN, localASN, interface: iface, connectTime, passwordSecret, enableGracefulRestart, vrf, disableMP, dualStackAddressFamily, peerASN, peerAddress, ...shared } = peer.spec
  const absent = [...(peerASN === undefined ? ["peerASN"] : []), ...(peerAddress === undefined ? ["peerAddress"] : [])]
  const lost = Object.fromEntries(
    Object.entries({ dynamicASN, localASN, interface: iface, connectTime, passwordSecret, enableGracefulRestart, vrf, disableMP, dualStackAddressFamily, absent: absent.length > 0 ? absent : undefined })
      .filter(([, v]) => v !== undefined),
  )
  const annotations = { ...peer.metadata.annotations }
  if (Object.keys(lost).length > 0) annotations[lostInV1beta1Annotation] = JSON.stringify(lost)
  else delete annotations[lostInV1beta1Annotation]
  const { annotations: _all, ...metadata } = peer.metadata
  return {
    ...peer,
    apiVersion: "metallb.io/v1beta1",
    metadata: { ...metadata, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
    spec: { ...shared, peerASN: peerASN ?? 0, peerAddress: peerAddress ?? "" },
  }
}
