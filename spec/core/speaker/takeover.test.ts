// Takeovers: a service this node now owns whose previous owner left the membership; nothing else.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Election } from "../../../core/election/owner.ts"
import { takeoversOf } from "../../../core/speaker/takeover.ts"

const elected = (owner: string): Election => ({ owner, candidates: [owner], reason: "Elected" })
const nobody: Election = { candidates: [], reason: "NoAvailableNode" }

describe("takeoversOf", () => {
  it("counts a service this node took from a member that is gone, once", () => {
    const before = takeoversOf(new Map(), new Map([["default/web", elected("n1")], ["default/dns", elected("n2")]]), "n2", new Set(["n1", "n2", "n3"]))
    expect(before.takeovers).toEqual([])
    const after = takeoversOf(before.owners, new Map([["default/web", elected("n2")], ["default/dns", elected("n2")]]), "n2", new Set(["n2", "n3"]))
    expect(after.takeovers).toEqual([{ service: "default/web", from: "n1" }])
    // The next decision sees n2 as the previous owner: no second count.
    expect(takeoversOf(after.owners, new Map([["default/web", elected("n2")]]), "n2", new Set(["n2", "n3"])).takeovers).toEqual([])
  })

  it("does not count moves while the previous owner is still a member, services new to it, or services without an owner", () => {
    const owners = new Map([["default/web", "n1"]])
    expect(takeoversOf(owners, new Map([["default/web", elected("n2")]]), "n2", new Set(["n1", "n2"])).takeovers).toEqual([])
    expect(takeoversOf(new Map(), new Map([["default/web", elected("n2")]]), "n2", new Set(["n2"])).takeovers).toEqual([])
    const gone = takeoversOf(owners, new Map([["default/web", nobody]]), "n2", new Set(["n2"]))
    expect(gone.takeovers).toEqual([])
    expect(gone.owners.has("default/web")).toBe(false)
    // Membership off: nobody is ever gone.
    expect(takeoversOf(owners, new Map([["default/web", elected("n2")]]), "n2", undefined).takeovers).toEqual([])
  })

  it("a takeover is always this node's, from a node that is neither this one nor a member", () => {
    const name = fc.constantFrom("n1", "n2", "n3", "n4")
    fc.assert(fc.property(
      fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), name),
      fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.option(name, { nil: undefined })),
      fc.subarray(["n1", "n2", "n3", "n4"]),
      (previous, now, live) => {
        const members = new Set(live)
        const elections = new Map(Object.entries(now).map(([s, owner]): [string, Election] => [s, owner === undefined ? nobody : elected(owner)]))
        const step = takeoversOf(new Map(Object.entries(previous)), elections, "n1", members)
        for (const t of step.takeovers) {
          expect(elections.get(t.service)?.owner).toBe("n1")
          expect(t.from).toBe(previous[t.service])
          expect(t.from).not.toBe("n1")
          expect(members.has(t.from)).toBe(false)
        }
        expect([...step.owners.keys()].sort()).toEqual(Object.entries(now).filter(([, o]) => o !== undefined).map(([s]) => s).sort())
      },
    ))
  })
})
