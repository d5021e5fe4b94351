// The speaker's BGPSessionState objects (frrk8s.metallb.io/v1beta1, as MetalLB's FRR-K8s mode writes
// them): one per node and BGP peer, labelled with frr-k8s's node/peer/vrf labels plus the BGPPeer's
// name (ours: which of this node's objects are ours, and for which peer; in full in an annotation), the
// time the BGP state began in an annotation. Written through KubeApi by NodeObjects (owned by the speaker's pod, adopted by its
// successor); frr-k8s's own objects on the node (no BGPPeer label) are left alone.
import { createHash } from "node:crypto"
import type { Effect } from "effect"
import {
  bgpSessionStateGroup,
  type BGPSessionStateStatus,
  sessionStateLabels,
  sessionStatePeerNameLabel,
  sessionStateSinceAnnotation,
} from "../../core/config/kinds/bgp-session-state.ts"
import type { KubeApiError } from "./api-error.ts"
import type { KubeApi, ResourceType } from "./kube-api.ts"
import { NodeObjects, type PodOwner } from "./node-objects.ts"

export const bgpSessionStates: ResourceType = { group: bgpSessionStateGroup, version: "v1beta1", plural: "bgpsessionstates", kind: "BGPSessionState", namespaced: true }

/**
 * A BGPPeer's name as a label value: itself up to 63 characters (a DNS subdomain that short is a valid
 * label value); a longer one (names go to 253) cut to 54 and suffixed with 8 hex digits of its SHA-256.
 */
export const peerLabelValue = (name: string): string =>
  name.length <= 63 ? name : `${name.slice(0, 54)}-${createHash("sha256").update(name).digest("hex").slice(0, 8)}`

export class SessionStateWriter {
  private readonly objects: NodeObjects
  private readonly node: string

  constructor(api: KubeApi["Service"], namespace: string, node: string, owner?: PodOwner) {
    this.node = node
    this.objects = new NodeObjects(api, {
      resource: bgpSessionStates,
      labelSelector: `${sessionStateLabels.node}=${node},${sessionStatePeerNameLabel}`,
      keyOf: (labels, annotations) => annotations[sessionStatePeerNameLabel] ?? labels[sessionStatePeerNameLabel],
      newObject: (peer) => ({ generateName: `${node}-`, labels: { [sessionStateLabels.node]: node, [sessionStatePeerNameLabel]: peerLabelValue(peer) } }),
      managedMetadata: [sessionStateLabels.peer, sessionStateLabels.vrf, sessionStateSinceAnnotation],
    }, namespace, owner)
  }

  set onWrite(f: (ok: boolean) => void) {
    this.objects.onWrite = f
  }

  /** The BGPPeers this node has objects for (adopting a previous pod's). */
  found(): Effect.Effect<ReadonlyArray<string>, KubeApiError> {
    return this.objects.found()
  }

  /** This node's object for the BGPPeer `peer`: frr-k8s's labels follow the status (peer, vrf). */
  write(peer: string, status: Required<BGPSessionStateStatus>, sinceMs: number): Effect.Effect<void, KubeApiError> {
    return this.objects.write(peer, {
      status,
      annotations: { [sessionStateSinceAnnotation]: new Date(sinceMs).toISOString(), [sessionStatePeerNameLabel]: peer },
      labels: { [sessionStateLabels.node]: this.node, [sessionStatePeerNameLabel]: peerLabelValue(peer), [sessionStateLabels.peer]: status.peer, [sessionStateLabels.vrf]: status.vrf },
    })
  }

  remove(peer: string): Effect.Effect<void, KubeApiError> {
    return this.objects.remove(peer)
  }
}
