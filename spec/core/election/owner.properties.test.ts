import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { L2Advertisement } from "../../../core/config/config.ts"
import type { Selector } from "../../../core/config/selector.ts"
import { type ElectionInput, type ElectionNode, type ElectionService, electOwner, electOwnerWithReasons, hashRank } from "../../../core/election/owner.ts"
import type { Address } from "../../../core/net/address.ts"
import { ad, selector } from "./fixtures.ts"

const nodeSelectors: ReadonlyArray<Selector> = [
  selector({ matchLabels: { zone: "a" } }),
  selector({ matchLabels: { zone: "b" } }),
  selector({ matchLabels: { role: "edge" } }),
  selector({ matchExpressions: [{ key: "role", operator: "In", values: ["edge", "worker"] }] }),
  selector({}),
]
const serviceSelectors = [selector({ matchLabels: { app: "web" } }), selector({ matchLabels: { app: "db" } })]

const rarely = fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })

const arbNode = (name: string): fc.Arbitrary<ElectionNode> =>
  fc.record({
    name: fc.constant(name),
    labels: fc.record({ zone: fc.constantFrom("a", "b"), role: fc.constantFrom("edge", "worker", "infra") }),
    networkUnavailable: rarely,
    excluded: rarely,
  })

const arbAd: fc.Arbitrary<L2Advertisement> = fc
  .record({
    name: fc.string({ minLength: 1, maxLength: 4 }),
    nodeSelectors: fc.subarray([...nodeSelectors], { maxLength: 2 }),
    serviceSelectors: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.subarray(serviceSelectors, { minLength: 1 }) }),
    preferredNodeSelectors: fc.array(fc.record({ weight: fc.integer({ min: 1, max: 100 }), selector: fc.constantFrom(...nodeSelectors) }), {
      maxLength: 2,
    }),
  })
  .map((f) => ad(f.name, f))

const arbIp: fc.Arbitrary<Address> = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((value) => ({ family: "ipv4" as const, value })),
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((value) => ({ family: "ipv6" as const, value })),
)

interface View {
  readonly nodes: ReadonlyArray<ElectionNode>
  readonly members?: ReadonlySet<string>
  readonly ads: ReadonlyArray<L2Advertisement>
  readonly ignoreExcludeLb: boolean
  readonly services: ReadonlyArray<{ readonly service: ElectionService; readonly endpoints: ElectionInput["endpoints"] }>
}

const arbView: fc.Arbitrary<View> = fc.integer({ min: 1, max: 10 }).chain((count) => {
  const names = Array.from({ length: count }, (_, i) => `node-${i}`)
  const endpoint = fc.record({ node: fc.constantFrom(...names), serving: fc.boolean() })
  const service = fc.record({
    service: fc.record({
      key: fc.string(),
      ips: fc.array(arbIp, { minLength: 1, maxLength: 2 }),
      labels: fc.record({ app: fc.constantFrom("web", "db") }),
      externalTrafficPolicy: fc.constantFrom("Cluster" as const, "Local" as const),
      sharedIp: rarely,
    }),
    endpoints: fc.array(endpoint, { minLength: 1, maxLength: 4 }),
  })
  return fc.record({
    nodes: fc.tuple(...names.map(arbNode)),
    members: fc.option(fc.subarray([...names, "not-a-node"]).map((m) => new Set(m)), { nil: undefined }),
    ads: fc.array(arbAd, { minLength: 1, maxLength: 3 }),
    ignoreExcludeLb: fc.boolean(),
    services: fc.array(service, { minLength: 1, maxLength: 6 }),
  }).map(({ members, ...rest }) => (members === undefined ? rest : { ...rest, members }))
})

const inputFor = (view: View, i: number, members = view.members): ElectionInput => ({
  service: view.services[i]!.service,
  endpoints: view.services[i]!.endpoints,
  nodes: view.nodes,
  advertisements: view.ads,
  ignoreExcludeLb: view.ignoreExcludeLb,
  ...(members === undefined ? {} : { members }),
})

const permute = <A>(items: ReadonlyArray<A>, keys: ReadonlyArray<number>): Array<A> =>
  items.map((item, i) => ({ item, key: keys[i % Math.max(1, keys.length)] ?? 0, i }))
    .sort((a, b) => a.key - b.key || b.i - a.i)
    .map((x) => x.item)

const memberNames = (view: View): Set<string> => new Set(view.members ?? view.nodes.map((n) => n.name))
const without = (names: ReadonlySet<string>, name: string): Set<string> => new Set([...names].filter((n) => n !== name))

describe("electOwner properties", () => {
  it("the speaker's election (no verdicts, Local services looking only at nodes with an endpoint, a rank memo) is explain's", () => {
    fc.assert(
      fc.property(arbView, (view) => {
        view.services.forEach((_, i) => {
          const input = inputFor(view, i)
          const memo = new Map<string, number>()
          const rank = (node: string) => memo.get(node) ?? memo.set(node, hashRank(node, input.service.ips[0]!)).get(node)!
          expect(electOwner(input, rank)).toEqual(electOwnerWithReasons(input).election)
        })
      }),
      { numRuns: 1000 },
    )
  })

  it("every node holding the same view elects the same owner, whatever order its informers listed things in", () => {
    fc.assert(
      fc.property(arbView, fc.array(fc.integer(), { minLength: 1, maxLength: 12 }), (view, keys) => {
        view.services.forEach((_, i) => {
          const input = inputFor(view, i)
          const shuffled: ElectionInput = {
            ...input,
            nodes: permute(input.nodes, keys),
            endpoints: permute(input.endpoints, keys),
            advertisements: permute(input.advertisements, keys),
            ...(input.members === undefined ? {} : { members: new Set(permute([...input.members], keys)) }),
          }
          expect(electOwner(shuffled)).toEqual(electOwner(input))
        })
      }),
      { numRuns: 1000 },
    )
  })

  it("removing a member that owns nothing changes no owner (it only leaves the candidate lists)", () => {
    let kept = 0
    fc.assert(
      fc.property(arbView, fc.nat(), (view, pick) => {
        const before = view.services.map((_, i) => electOwner(inputFor(view, i)))
        const owners = new Set(before.flatMap((e) => (e.owner === undefined ? [] : [e.owner])))
        const bystanders = [...memberNames(view)].filter((n) => !owners.has(n))
        if (bystanders.length === 0) return
        const gone = bystanders[pick % bystanders.length]!
        const members = without(memberNames(view), gone)
        view.services.forEach((_, i) => {
          const after = electOwner(inputFor(view, i, members))
          expect(after.owner).toBe(before[i]!.owner)
          expect(after.candidates).toEqual(before[i]!.candidates.filter((n) => n !== gone))
          if (after.owner !== undefined && before[i]!.candidates.includes(gone)) kept++
        })
      }),
      { numRuns: 1000 },
    )
    // Not vacuous: many services kept their owner while a fellow candidate went away.
    expect(kept).toBeGreaterThan(100)
  })

  it("removing an owner moves only the services it owned, each to its next candidate", () => {
    let moved = 0
    let stayed = 0
    fc.assert(
      fc.property(arbView, fc.nat(), (view, pick) => {
        const before = view.services.map((_, i) => electOwner(inputFor(view, i)))
        const owners = [...new Set(before.flatMap((e) => (e.owner === undefined ? [] : [e.owner])))].sort()
        if (owners.length === 0) return
        const gone = owners[pick % owners.length]!
        const members = without(memberNames(view), gone)
        view.services.forEach((_, i) => {
          const was = before[i]!
          const after = electOwner(inputFor(view, i, members))
          if (was.owner !== gone) {
            expect(after.owner).toBe(was.owner)
            if (was.owner !== undefined) stayed++
          } else {
            expect(after.owner).toBe(was.candidates[1])
            if (after.owner !== undefined) moved++
          }
        })
      }),
      { numRuns: 1000 },
    )
    expect(moved).toBeGreaterThan(70)
    expect(stayed).toBeGreaterThan(70)
  })
})
