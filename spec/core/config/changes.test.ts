import { describe, expect, it } from "vitest"
import { checkBfdProfileDelete, checkPeerUpdate } from "../../../core/config/changes.ts"
import type { BGPPeer } from "../../../core/config/kinds/bgp-peer.ts"

const peer = (name: string, spec: Partial<BGPPeer["spec"]>): BGPPeer => ({
  apiVersion: "metallb.io/v1beta2",
  kind: "BGPPeer",
  metadata: { name, namespace: "metallb-system" },
  spec: { myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.1", ...spec },
})
const located = (p: BGPPeer) => ({ object: p, ref: { kind: "BGPPeer", name: p.metadata.name } })

describe("changes judged by the webhooks", () => {
  it("refuses a change of enableGracefulRestart, in either direction, and allows other edits", () => {
    const before = peer("tor", { enableGracefulRestart: true })
    expect(checkPeerUpdate(before, located(peer("tor", { enableGracefulRestart: false })))).toMatchObject([
      { code: "ConflictingFields", field: "spec.enableGracefulRestart", value: false, other: { value: true } },
    ])
    expect(checkPeerUpdate(peer("tor", {}), located(peer("tor", { enableGracefulRestart: true })))).toHaveLength(1)
    expect(checkPeerUpdate(before, located(peer("tor", { enableGracefulRestart: true, holdTime: "30s" })))).toEqual([])
  })

  it("refuses deleting a BFDProfile that a BGPPeer uses, naming every user", () => {
    const profile = { kind: "BFDProfile", name: "fast", namespace: "metallb-system" }
    const peers = [located(peer("a", { bfdProfile: "fast" })), located(peer("b", {})), located(peer("c", { bfdProfile: "fast" }))]
    expect(checkBfdProfileDelete(profile, peers).map((e) => [e.code, e.other?.object.name])).toEqual([
      ["BfdProfileInUse", "a"],
      ["BfdProfileInUse", "c"],
    ])
    expect(checkBfdProfileDelete({ ...profile, name: "unused" }, peers)).toEqual([])
  })
})
