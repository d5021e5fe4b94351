// The metallb.io configuration as the controller and the speaker read it from the API: the kinds they
// watch (with the API version served for each), the Secrets BGPPeer passwords name, the Nodes where the
// process watches them, all turned into core/config/in-force.ts's ConfigSources, so the processes
// resolve the same input the same way.
import type { KubernetesObject, V1Node, V1Secret } from "@kubernetes/client-node"
import type { ConfigSources } from "../../core/config/in-force.ts"
import type { NodeLabels } from "../../core/config/rules/context.ts"
import type { Located, Secret } from "../../core/config/decode.ts"
import { metallbGroup } from "../../core/config/kinds/common.ts"
import type { ResourceType } from "./kube-api.ts"

export { metallbGroup }

const kind = (name: string, version: string, plural: string): ResourceType => ({ group: metallbGroup, version, plural, kind: name, namespaced: true })

/** The configuration kinds, each at the version the CRDs serve as storage. */
export const configKinds: ReadonlyArray<ResourceType> = [
  kind("IPAddressPool", "v1beta1", "ipaddresspools"),
  kind("L2Advertisement", "v1beta1", "l2advertisements"),
  kind("BGPAdvertisement", "v1beta1", "bgpadvertisements"),
  kind("BGPPeer", "v1beta2", "bgppeers"),
  kind("BFDProfile", "v1beta1", "bfdprofiles"),
  kind("Community", "v1beta1", "communities"),
]

export const ipAddressPools = configKinds[0] as ResourceType

/** The status objects and ConfigurationState (written, not part of the configuration). */
export const statusKinds = {
  configurationStates: kind("ConfigurationState", "v1beta1", "configurationstates"),
  serviceL2Statuses: kind("ServiceL2Status", "v1beta1", "servicel2statuses"),
  serviceBGPStatuses: kind("ServiceBGPStatus", "v1beta1", "servicebgpstatuses"),
} as const

/**
 * A watched Secret as resolve() looks it up: by name and namespace (a BGPPeer's password Secret is read
 * by name from metallb-ts's namespace, as MetalLB reads it; keeping the namespace keeps others out).
 */
export const secretOf = (secret: V1Secret): Located<Secret> => {
  const name = secret.metadata?.name ?? ""
  const namespace = secret.metadata?.namespace
  return {
    object: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
      ...(secret.type === undefined ? {} : { type: secret.type }),
      ...(secret.data === undefined ? {} : { data: secret.data }),
    },
    ref: { kind: "Secret", name, ...(namespace === undefined ? {} : { namespace }) },
  }
}

/** A Node as the configuration rules see it: its name and labels (what nodeSelectors match). */
export const nodeLabelsOf = (node: V1Node): NodeLabels => ({ name: node.metadata?.name ?? "", labels: node.metadata?.labels ?? {} })

/**
 * The watched objects as resolve()'s sources; each document is located as Kind/name in errors. With
 * the Nodes (a process that watches them), the rules that depend on which nodes peers select decide on
 * the real nodes; without them they assume any two selections can meet.
 */
export const configSourcesOf = (
  objects: ReadonlyArray<KubernetesObject>,
  secrets: ReadonlyArray<V1Secret>,
  namespace: string,
  nodes?: ReadonlyArray<V1Node>,
): ConfigSources => ({
  documents: objects.map((value) => ({ value, source: { file: `${value.kind}/${value.metadata?.name}` } })),
  secrets: secrets.map(secretOf),
  namespace,
  ...(nodes === undefined ? {} : { nodes: nodes.map(nodeLabelsOf) }),
})
