// BGPSessionState (frrk8s.metallb.io/v1beta1): one object per node and BGP peer saying the session's
// state, as MetalLB's FRR-K8s mode publishes it (`kubectl get bgpsessionstates -n metallb-system`:
// NODE PEER VRF BGP BFD). Same group, kind, labels and status fields, so what a MetalLB user reads or
// scripts keeps working; our speaker writes them from its own sessions (MetalLB native mode has none).
import { Schema } from "effect"
import { ObjectMetaSchema } from "./common.ts"

export const bgpSessionStateGroup = "frrk8s.metallb.io"

/** The labels frr-k8s puts on every object (a label selector finds one node's, one peer's). */
export const sessionStateLabels = {
  node: "frrk8s.metallb.io/node",
  peer: "frrk8s.metallb.io/peer",
  vrf: "frrk8s.metallb.io/vrf",
} as const

/**
 * Ours only: the BGPPeer the session runs for (frr-k8s names peers by address, several BGPPeers can share
 * one), as a label (selectable; a name too long for a label value is shortened with a hash of it) and in
 * full as an annotation of the same key.
 */
export const sessionStatePeerNameLabel = "metallb-ts.io/bgppeer"
/** Ours only: when the BGP state last changed (RFC 3339); an annotation, so a CRD that prunes keeps it. */
export const sessionStateSinceAnnotation = "metallb-ts.io/bgp-status-since"

/** frr-k8s's "no BFD on this session". */
export const noBfd = "N/A"

export const BGPSessionStateStatusSchema = Schema.Struct({
  /** The BGP FSM state: Idle, Connect, Active, OpenSent, OpenConfirm, Established. */
  bgpStatus: Schema.optionalKey(Schema.String),
  /** FRR's BFD peer status (up, down, init, shutdown), or N/A without a BFD profile. */
  bfdStatus: Schema.optionalKey(Schema.String),
  node: Schema.optionalKey(Schema.String),
  /** The neighbour: its address (IPv6 expanded, ':' as '-', as in the label) or the interface of an unnumbered peer. */
  peer: Schema.optionalKey(Schema.String),
  /** The peer's VRF; empty for the default one. */
  vrf: Schema.optionalKey(Schema.String),
})
export type BGPSessionStateStatus = typeof BGPSessionStateStatusSchema.Type

export const BGPSessionStateSchema = Schema.Struct({
  apiVersion: Schema.Literal("frrk8s.metallb.io/v1beta1"),
  kind: Schema.Literal("BGPSessionState"),
  metadata: ObjectMetaSchema,
  spec: Schema.optionalKey(Schema.Struct({})),
  status: Schema.optionalKey(BGPSessionStateStatusSchema),
})
export type BGPSessionState = typeof BGPSessionStateSchema.Type
