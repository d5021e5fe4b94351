import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { type ElectionInput, type ElectionNode, electOwner, goIpString } from "../../../core/election/owner.ts"
import { ad, ip, selector } from "./fixtures.ts"

const node = (name: string, labels: Record<string, string> = {}, extra: Partial<ElectionNode> = {}): ElectionNode => ({
  name,
  labels,
  networkUnavailable: false,
  excluded: false,
  ...extra,
})

const names = ["alpha", "bravo", "charlie", "delta", "echo"]

/** The MetalLB order computed independently, with node:crypto. */
const hashOrder = (nodes: ReadonlyArray<string>, firstIp: string): Array<string> => {
  const digest = (n: string) => createHash("sha256").update(`${n}#${firstIp}`).digest()
  return [...nodes].sort((a, b) => Buffer.compare(digest(a), digest(b)))
}

const base = (overrides: Partial<ElectionInput> = {}): ElectionInput => ({
  service: { key: "default/web", ips: [ip("192.168.10.5")], labels: { app: "web" }, externalTrafficPolicy: "Cluster", sharedIp: false },
  nodes: names.map((n) => node(n)),
  endpoints: [{ node: "alpha", serving: true }],
  advertisements: [ad("l2")],
  ignoreExcludeLb: false,
  ...overrides,
})

describe("electOwner (MetalLB layer2 ShouldAnnounce)", () => {
  it("orders candidates by sha256(node#ip) ascending and elects the first", () => {
    const election = electOwner(base())
    const expected = hashOrder(names, "192.168.10.5")
    expect(election).toEqual({ owner: expected[0], candidates: expected, reason: "Elected" })
    // Another IP gives another order, which is how services spread over nodes.
    const other = electOwner(base({ service: { ...base().service, ips: [ip("192.168.10.6")] } }))
    expect(other.candidates).toEqual(hashOrder(names, "192.168.10.6"))
  })

  it("needs at least one serving endpoint", () => {
    expect(electOwner(base({ endpoints: [] })).reason).toBe("NoServingEndpoint")
    expect(electOwner(base({ endpoints: [{ node: "alpha", serving: false }] }))).toEqual({ candidates: [], reason: "NoServingEndpoint" })
    // A serving endpoint on no known node still counts for Cluster policy.
    expect(electOwner(base({ endpoints: [{ serving: true }] })).reason).toBe("Elected")
  })

  it("refuses a shared IP when an advertisement of the pool has serviceSelectors", () => {
    const shared = { ...base().service, sharedIp: true }
    const withSelectors = [ad("plain"), ad("picky", { serviceSelectors: [selector({ matchLabels: { app: "web" } })] })]
    expect(electOwner(base({ service: shared, advertisements: withSelectors })).reason).toBe("SharedIpWithServiceSelectors")
    expect(electOwner(base({ service: shared })).reason).toBe("Elected")
  })

  it("uses only advertisements whose serviceSelectors match the service (any selector of an ad)", () => {
    const apache = ad("apache", { serviceSelectors: [selector({ matchLabels: { app: "apache" } })] })
    expect(electOwner(base({ advertisements: [apache] })).reason).toBe("NoMatchingAdvertisement")
    expect(electOwner(base({ advertisements: [] })).reason).toBe("NoMatchingAdvertisement")
    const either = ad("either", {
      serviceSelectors: [selector({ matchLabels: { app: "apache" } }), selector({ matchLabels: { app: "web" } })],
    })
    expect(electOwner(base({ advertisements: [either] })).reason).toBe("Elected")
    // The matching ad's node set decides, not the non-matching one's.
    const onlyAlpha = ad("web-on-alpha", {
      serviceSelectors: [selector({ matchLabels: { app: "web" } })],
      nodeSelectors: [selector({ matchLabels: { "kubernetes.io/hostname": "alpha" } })],
    })
    const nodes = names.map((n) => node(n, { "kubernetes.io/hostname": n }))
    expect(electOwner(base({ nodes, advertisements: [apache, onlyAlpha] })).candidates).toEqual(["alpha"])
  })

  it("keeps candidates within the union of the ads' node sets (empty nodeSelectors = every node)", () => {
    const nodes = names.map((n, i) => node(n, { zone: i < 2 ? "a" : "b", tier: i === 4 ? "edge" : "worker" }))
    const zoneA = ad("a", { nodeSelectors: [selector({ matchLabels: { zone: "a" } })] })
    const edge = ad("edge", { nodeSelectors: [selector({ matchLabels: { tier: "edge" } })] })
    expect(electOwner(base({ nodes, advertisements: [zoneA] })).candidates).toEqual(hashOrder(["alpha", "bravo"], "192.168.10.5"))
    expect(electOwner(base({ nodes, advertisements: [zoneA, edge] })).candidates).toEqual(
      hashOrder(["alpha", "bravo", "echo"], "192.168.10.5"),
    )
    const nobody = ad("none", { nodeSelectors: [selector({ matchLabels: { zone: "c" } })] })
    expect(electOwner(base({ nodes, advertisements: [nobody] })).reason).toBe("NoAvailableNode")
  })

  it("takes candidates from the live members when membership runs, from all nodes otherwise", () => {
    const members = new Set(["bravo", "delta", "ghost"])
    // "ghost" is a member without a Node object: it has no labels to match, so it is not a candidate.
    expect(electOwner(base({ members })).candidates).toEqual(hashOrder(["bravo", "delta"], "192.168.10.5"))
    expect(electOwner(base({ members: new Set() })).reason).toBe("NoAvailableNode")
  })

  it("drops NetworkUnavailable nodes and exclude-labelled nodes unless --ignore-exclude-lb", () => {
    const nodes = [node("alpha", {}, { networkUnavailable: true }), node("bravo", {}, { excluded: true }), node("charlie")]
    expect(electOwner(base({ nodes })).candidates).toEqual(["charlie"])
    expect(electOwner(base({ nodes, ignoreExcludeLb: true })).candidates).toEqual(hashOrder(["bravo", "charlie"], "192.168.10.5"))
  })

  it("restricts externalTrafficPolicy Local to nodes with a serving endpoint", () => {
    const service = { ...base().service, externalTrafficPolicy: "Local" as const }
    const endpoints = [
      { node: "bravo", serving: true },
      { node: "delta", serving: true },
      { node: "echo", serving: false },
      { serving: true },
    ]
    expect(electOwner(base({ service, endpoints })).candidates).toEqual(hashOrder(["bravo", "delta"], "192.168.10.5"))
    // The only serving endpoint sits on a node that is not a member.
    expect(electOwner(base({ service, endpoints, members: new Set(["alpha", "echo"]) })).reason).toBe("NoAvailableNode")
  })

  it("puts preferred nodes first by summed weight, ad-scoped, hash order within a tier", () => {
    const labels: Record<string, Record<string, string>> = {
      alpha: { role: "lb", zone: "primary", gpu: "true" },
      bravo: { role: "lb", zone: "primary" },
      charlie: { role: "lb" },
      delta: { zone: "primary" },
      echo: { role: "gpu", zone: "primary" },
    }
    const nodes = names.map((n) => node(n, labels[n]))
    const lb = selector({ matchLabels: { role: "lb" } })
    const ads = [
      ad("ad1", { nodeSelectors: [lb], preferredNodeSelectors: [{ weight: 70, selector: selector({ matchLabels: { zone: "primary" } }) }] }),
      ad("ad2", { nodeSelectors: [lb], preferredNodeSelectors: [{ weight: 30, selector: selector({ matchLabels: { gpu: "true" } }) }] }),
      // Scores only its own node set: echo (zone=primary) gets 100 from it, delta nothing.
      ad("ad3", {
        nodeSelectors: [selector({ matchLabels: { role: "gpu" } })],
        preferredNodeSelectors: [{ weight: 100, selector: selector({ matchLabels: { zone: "primary" } }) }],
      }),
    ]
    // alpha 70+30, echo 100 (tie, hash order), bravo 70, charlie 0; delta is in no ad's node set.
    const election = electOwner(base({ nodes, advertisements: ads }))
    expect(election.candidates).toEqual([...hashOrder(["alpha", "echo"], "192.168.10.5"), "bravo", "charlie"])
    // Within one ad, weights of several matching selectors add up.
    const cumulative = ad("cumulative", {
      preferredNodeSelectors: [
        { weight: 60, selector: selector({ matchLabels: { zone: "primary" } }) },
        { weight: 50, selector: selector({ matchLabels: { gpu: "true" } }) },
      ],
    })
    expect(electOwner(base({ nodes, advertisements: [cumulative] })).owner).toBe("alpha")
    // A preference bound to an ad the service does not match contributes nothing.
    const other = ad("other", {
      serviceSelectors: [selector({ matchLabels: { app: "other" } })],
      preferredNodeSelectors: [{ weight: 100, selector: selector({ matchLabels: { role: "lb" } }) }],
    })
    expect(electOwner(base({ nodes, advertisements: [ad("plain"), other] })).candidates).toEqual(hashOrder(names, "192.168.10.5"))
  })

  it("passes over a node whose interfaces for the service are all down, and only such a node", () => {
    const order = hashOrder(names, "192.168.10.5")
    const [first, second] = order as [string, string]
    const segment2 = ad("segment2", { interfaces: ["eth1"] })
    const down = (name: string, ...interfaces: Array<string>) => new Map([[name, interfaces]])
    expect(electOwner(base({ advertisements: [segment2], downInterfaces: down(first, "eth1") })).candidates).toEqual(order.slice(1))
    // Another interface of the ads still up, or an ad naming none (every usable interface): still eligible.
    const both = ad("both", { interfaces: ["eth0", "eth1"] })
    expect(electOwner(base({ advertisements: [both], downInterfaces: down(first, "eth1") })).owner).toBe(first)
    expect(electOwner(base({ advertisements: [segment2, ad("any")], downInterfaces: down(first, "eth1") })).owner).toBe(first)
    expect(electOwner(base({ advertisements: [segment2], downInterfaces: down(first, "eth0") })).owner).toBe(first)
    // Only the ads covering the node count: an ad for another node set does not keep it eligible.
    const nodes = names.map((n) => node(n, { rack: n === first ? "a" : "b" }))
    const rackB = ad("rack-b", { interfaces: ["eth0"], nodeSelectors: [selector({ matchLabels: { rack: "b" } })] })
    expect(electOwner(base({ nodes, advertisements: [segment2, rackB], downInterfaces: down(first, "eth1") })).owner).toBe(second)
    const everyone = new Map(names.map((n) => [n, ["eth1"]]))
    expect(electOwner(base({ advertisements: [segment2], downInterfaces: everyone }))).toEqual({ candidates: [], reason: "AnnouncingInterfacesDown" })
  })

  it("hashes the first IP only, printed as Go prints it", () => {
    const dual = electOwner(base({ service: { ...base().service, ips: [ip("2001:db8:0:0:1:0:0:1"), ip("192.168.10.5")] } }))
    expect(dual.candidates).toEqual(hashOrder(names, "2001:db8::1:0:0:1"))
    expect(electOwner(base({ service: { ...base().service, ips: [] } })).reason).toBe("NoIp")
    expect(goIpString(ip("::ffff:10.1.2.3"))).toBe("10.1.2.3")
    expect(goIpString(ip("fe80::1:0:0:0"))).toBe("fe80::1:0:0:0")
    expect(goIpString(ip("2001:db8::"))).toBe("2001:db8::")
  })
})
