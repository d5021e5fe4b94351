// The speakers' BGP session states as explain reads them (BGPSessionState, frrk8s.metallb.io): which
// object speaks for a node's session with a BGPPeer, and why none can be known. Our speaker labels its
// objects with the BGPPeer; an object frr-k8s wrote (MetalLB's FRR-K8s mode) is matched by the
// neighbour address and VRF the peer's session would run with, as frr-k8s names it.
import type { Config } from "../config/config.ts"
import type { ClusterState, SessionStateReport } from "../snapshot/cluster-state.ts"
import { sessionPeerId } from "../speaker/node/session-state.ts"
import type { BgpSession } from "./explanation.ts"

/** Why the session states are unknown; undefined: they were read. */
export const sessionStatesGap = (state: ClusterState): string | undefined => {
  if (state.sessionStates !== undefined) return undefined
  const unreadable = state.unreadable.find((u) => u.kind === "BGPSessionState")
  if (unreadable === undefined) return `BGPSessionStates were not read from ${state.source}`
  const status = unreadable.status === 403 ? "not allowed (HTTP 403)" : unreadable.status === 404 ? "the BGPSessionState CRD is not served (HTTP 404)" : unreadable.reason
  return `BGPSessionStates could not be read: ${status}`
}

const matches = (report: SessionStateReport, config: Config, node: string, peer: string): boolean => {
  if (report.node !== node) return false
  if (report.bgpPeer !== undefined) return report.bgpPeer === peer
  const p = config.peers.get(peer)
  return p !== undefined && report.neighbor === sessionPeerId(p) && report.vrf === p.vrf
}

/** The node's session with the BGPPeer as its BGPSessionState says (no object: the session is not open). */
export const sessionOf = (state: ClusterState, config: Config, node: string, peer: string): BgpSession => {
  const report = (state.sessionStates ?? []).find((r) => matches(r, config, node, peer))
  if (report === undefined) return { peer }
  return {
    peer,
    state: {
      bgpStatus: report.bgpStatus,
      bfdStatus: report.bfdStatus,
      ...(report.since === undefined ? {} : { since: report.since }),
      object: report.name,
    },
  }
}

/** A session whose state is known and is not Established. */
export const sessionDown = (session: BgpSession): boolean => session.state !== undefined && session.state.bgpStatus !== "Established"
