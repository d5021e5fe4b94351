// Which configuration a plan computes for: FILE objects in place of live ones of the same kind and name.
import { describe, expect, it } from "vitest"
import { mergeDocuments } from "../../../core/plan/merge.ts"
import { pool } from "./fixtures.ts"

const live = (value: unknown) => ({ value })

describe("mergeDocuments", () => {
  it("replaces by kind and name, adds new objects, keeps the others; kubectl's last-applied annotation and status do not count as a change", () => {
    const applied = { ...pool("a", ["192.0.2.0/30"]), metadata: { name: "a", namespace: "metallb-system", annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" } }, status: { assignedIPv4: 1 } }
    const merged = mergeDocuments([live(applied), live(pool("b", ["198.51.100.0/30"]))], [{ value: pool("a", ["192.0.2.0/30"]) }, { value: pool("c", ["203.0.113.0/30"]) }], { prune: false })
    expect(merged.objects).toEqual([
      { kind: "IPAddressPool", name: "a", change: "unchanged" },
      { kind: "IPAddressPool", name: "c", change: "added" },
    ])
    expect(merged.documents.map((d) => (d.value as { metadata: { name: string } }).metadata.name)).toEqual(["b", "a", "c"])
  })

  it("prune removes live objects not in the FILEs; a spec change is a change whatever the key order", () => {
    const a = pool("a", ["192.0.2.0/30"], { autoAssign: false, avoidBuggyIPs: true })
    const reordered = { ...a, spec: { avoidBuggyIPs: true, autoAssign: false, addresses: ["192.0.2.0/30"] } }
    const merged = mergeDocuments([live(a), live(pool("b", ["198.51.100.0/30"]))], [{ value: reordered }], { prune: true })
    expect(merged.objects).toEqual([{ kind: "IPAddressPool", name: "a", change: "unchanged" }, { kind: "IPAddressPool", name: "b", change: "removed" }])
    const changed = mergeDocuments([live(a)], [{ value: pool("a", ["192.0.2.0/29"]) }], { prune: false })
    expect(changed.objects).toEqual([{ kind: "IPAddressPool", name: "a", change: "changed" }])
  })

  it("a BGPPeer of either version is one object; Lists stand for their items; other kinds are ignored and counted", () => {
    const peerV1beta1 = { apiVersion: "metallb.io/v1beta1", kind: "BGPPeer", metadata: { name: "r" }, spec: { myASN: 1, peerASN: 2, peerAddress: "203.0.113.1" } }
    const peerV1beta2 = { ...peerV1beta1, apiVersion: "metallb.io/v1beta2" }
    const files = [{ value: { apiVersion: "v1", kind: "List", items: [peerV1beta2, { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" } }] } }]
    const merged = mergeDocuments([live(peerV1beta1)], files, { prune: false })
    expect(merged.objects).toEqual([{ kind: "BGPPeer", name: "r", change: "unchanged" }])
    expect(merged.ignored).toBe(1)
    expect(merged.documents).toHaveLength(1)
  })
})
