// The node's BGPSessionState objects (frrk8s.metallb.io, as MetalLB's FRR-K8s mode publishes them): one
// per open session, saying its BGP FSM state and its BFD state, written only when that changes. A
// session opened by the pass starts Idle (BFD down, or N/A without a profile); the peer-session driver
// reports every change; a session closed (the pass, a failure to open, the end of the hand-over) loses
// its object. Objects a previous pod left are kept until this node has decided which sessions it runs,
// then rewritten or deleted, as the ServiceL2Status ones are.
import type { BfdState } from "../../bfd/packet.ts"
import type { SessionStateName } from "../../bgp/session/outputs.ts"
import { type BGPSessionStateStatus, noBfd } from "../../config/kinds/bgp-session-state.ts"
import type { Peer } from "../../config/config.ts"
import { formatAddress } from "../../net/address.ts"
import type { SessionSpec } from "../session-config.ts"
import { stableText } from "../session-config.ts"
import type { NodeInput } from "./inputs.ts"
import type { NodeOutput } from "./outputs.ts"
import type { NodeState, SessionStateEntry } from "./state.ts"

export type SessionStateInput = Extract<NodeInput, { _tag: "SessionStateChanged" | "SessionStatesFound" | "SessionStateWriteFailed" }>

/**
 * The neighbour as frr-k8s names it in `status.peer` and its label: an IPv4 address as is, an IPv6 one
 * expanded with '-' for ':' (a label value cannot hold ':'), an unnumbered peer by its interface.
 */
export const sessionPeerId = (peer: Peer): string => {
  const address = peer.address
  if (address === undefined) return peer.interface ?? peer.name
  if (address.family === "ipv4") return formatAddress(address)
  return address.value.toString(16).padStart(32, "0").match(/.{4}/g)!.join("-")
}

/** FRR's BFD peer status words (bfdd's `show bfd peers`), which frr-k8s copies. */
export const bfdStatusText = (state: BfdState | undefined): string => {
  switch (state) {
    case undefined:
      return noBfd
    case "AdminDown":
      return "shutdown"
    case "Down":
      return "down"
    case "Init":
      return "init"
    case "Up":
      return "up"
  }
}

const openedEntry = (node: string, spec: SessionSpec, nowMs: number): SessionStateEntry => ({
  status: {
    bgpStatus: "Idle" satisfies SessionStateName,
    bfdStatus: spec.bfdProfile === undefined ? noBfd : bfdStatusText("Down"),
    node,
    peer: sessionPeerId(spec.peer),
    vrf: spec.peer.vrf,
  },
  sinceMs: nowMs,
})

/** A session's reported state: only a session this node runs has one (a late report of a closed one is dropped). */
export const sessionStateInput = (s: NodeState, input: SessionStateInput): NodeState => {
  switch (input._tag) {
    case "SessionStateChanged": {
      const entry = s.sessionStates.get(input.peer)
      if (entry === undefined || !s.sessions.has(input.peer)) return s
      const status: Required<BGPSessionStateStatus> = {
        ...entry.status,
        bgpStatus: input.bgp,
        // A peer without a profile says N/A whatever the driver reports.
        bfdStatus: entry.status.bfdStatus === noBfd ? noBfd : bfdStatusText(input.bfd ?? "Down"),
      }
      const sinceMs = status.bgpStatus === entry.status.bgpStatus ? entry.sinceMs : input.nowMs
      return { ...s, sessionStates: new Map([...s.sessionStates, [input.peer, { status, sinceMs }]]) }
    }
    case "SessionStatesFound":
    case "SessionStateWriteFailed": {
      // Unknown now: written again if wanted, deleted once this node knows it is not.
      const written = new Map(s.sessionStatesWritten)
      for (const peer of input._tag === "SessionStatesFound" ? input.peers : [input.peer]) {
        if (input._tag === "SessionStateWriteFailed" || !written.has(peer)) written.set(peer, "")
      }
      return { ...s, sessionStatesWritten: written }
    }
  }
}

/** Whether this node has decided which sessions it runs (until then a previous pod's objects stay). */
const decided = (s: NodeState): boolean =>
  s.phase === "Stopped" || (s.phase === "Running" && s.config.config !== undefined && s.snapshot !== undefined)

const entryText = (entry: SessionStateEntry): string => stableText(entry)

/**
 * After a step: the sessions it opened get an entry, those no longer running lose theirs (a CloseSession,
 * a SessionFailed, the end of the hand-over), and the objects that differ from what was written are
 * written or deleted.
 */
export const publishSessionStates = (s: NodeState, outputs: ReadonlyArray<NodeOutput>, nowMs: number, out: Array<NodeOutput>): NodeState => {
  const states = new Map(s.sessionStates)
  for (const o of outputs) {
    if (o._tag === "OpenSession") states.set(o.name, openedEntry(s.settings.nodeName, o.spec, nowMs))
    else if (o._tag === "CloseSession") states.delete(o.name)
  }
  for (const peer of [...states.keys()]) if (!s.sessions.has(peer)) states.delete(peer)
  const written = new Map<string, string>()
  for (const [peer, entry] of states) {
    const text = entryText(entry)
    written.set(peer, text)
    if (s.sessionStatesWritten.get(peer) !== text) out.push({ _tag: "WriteSessionState", peer, status: entry.status, sinceMs: entry.sinceMs })
  }
  const canDelete = decided(s)
  for (const [peer, text] of s.sessionStatesWritten) {
    if (states.has(peer)) continue
    if (canDelete) out.push({ _tag: "DeleteSessionState", peer })
    else written.set(peer, text)
  }
  return { ...s, sessionStates: states, sessionStatesWritten: written }
}
