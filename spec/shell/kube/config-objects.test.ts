// The Nodes in the configuration sources (issue 16): only names and labels reach resolve(), so a
// Node's status heartbeat changes nothing, while a label change makes the configuration resolve again
// and decide on the new labels.
import type { V1Node } from "@kubernetes/client-node"
import { describe, expect, it } from "vitest"
import { noConfig, updateConfig } from "../../../core/config/in-force.ts"
import { configSourcesOf } from "../../../shell/kube/config-objects.ts"

const ns = "metallb-system"
const peer = (name: string, labels: Record<string, string>) => ({
  apiVersion: "metallb.io/v1beta2",
  kind: "BGPPeer",
  metadata: { name, namespace: ns },
  spec: { myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.1", nodeSelectors: [{ matchLabels: labels }] },
})
const node = (name: string, labels: Record<string, string>, heartbeat = "2026-01-01T00:00:00Z"): V1Node => ({
  metadata: { name, labels },
  status: { conditions: [{ type: "Ready", status: "True", lastHeartbeatTime: heartbeat as unknown as Date }] },
})

describe("configSourcesOf with Nodes", () => {
  const objects = [peer("on-rack", { rack: "r1" }), peer("in-zone", { zone: "z1" })]

  it("passes names and labels only, and resolves on them", () => {
    const apart = configSourcesOf(objects, [], ns, [node("n1", { rack: "r1" }), node("n2", { zone: "z1" })])
    expect(apart.nodes).toEqual([{ name: "n1", labels: { rack: "r1" } }, { name: "n2", labels: { zone: "z1" } }])
    const first = updateConfig(noConfig, apart)
    expect(first.change._tag).toBe("Applied")
    // A heartbeat: same names and labels, nothing to resolve.
    const heartbeat = configSourcesOf(objects, [], ns, [node("n1", { rack: "r1" }, "2026-01-01T00:00:10Z"), node("n2", { zone: "z1" })])
    expect(updateConfig(first.state, heartbeat).change._tag).toBe("Unchanged")
    // n2 joins rack r1: both peers now select it, the duplicate is refused and the older config kept.
    const together = configSourcesOf(objects, [], ns, [node("n1", { rack: "r1" }), node("n2", { zone: "z1", rack: "r1" })])
    const change = updateConfig(first.state, together).change
    expect(change._tag).toBe("Rejected")
    expect(change._tag === "Rejected" && change.keeping).toBe(true)
    expect(change._tag === "Rejected" && change.errors.map((e) => e.code)).toContain("DuplicatePeer")
    // Without Nodes (a process that does not watch them) the selectors may meet: refused.
    expect(updateConfig(noConfig, configSourcesOf(objects, [], ns)).change._tag).toBe("Rejected")
  })
})
