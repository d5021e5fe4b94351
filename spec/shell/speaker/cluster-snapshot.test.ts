// The speaker's snapshot from the informers' objects: the views it decodes, and the sharing the node
// machine's pass cache relies on (an object the watch did not replace keeps its view, by reference).
import type { V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { formatAddress } from "../../../core/net/address.ts"
import type { ClusterSnapshot } from "../../../core/speaker/view.ts"
import { projectService } from "../../../shell/kube/views.ts"
import { ClusterSnapshots, projectEndpointSlice, snapshotOf } from "../../../shell/speaker/cluster-snapshot.ts"

const svc = (name: string, ips: ReadonlyArray<string>, extra: Partial<V1Service["spec"]> = {}): V1Service => ({
  metadata: { namespace: "default", name, labels: { app: name }, annotations: { "metallb.io/ip-allocated-from-pool": "lan" } },
  spec: { type: "LoadBalancer", ...extra },
  status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
})
const slice = (service: string, name: string, nodes: ReadonlyArray<string>, ready = true): V1EndpointSlice => ({
  metadata: { namespace: "default", name, labels: { "kubernetes.io/service-name": service } },
  addressType: "IPv4",
  endpoints: nodes.map((nodeName) => ({ addresses: ["198.18.0.1"], nodeName, conditions: { ready } })),
})
const node = (name: string, unavailable = false): V1Node => ({
  metadata: { name, labels: { zone: "a" } },
  status: { addresses: [{ type: "InternalIP", address: "192.0.2.1" }], conditions: unavailable ? [{ type: "NetworkUnavailable", status: "True" }] : [] },
})

describe("snapshotOf", () => {
  it("decodes services of the class, endpoints per service over all its slices, and nodes", () => {
    const snapshot = snapshotOf(
      [svc("web", ["192.0.2.10"], { externalTrafficPolicy: "Local" }), svc("other", ["192.0.2.11"], { loadBalancerClass: "else" })],
      [slice("web", "web-1", ["n1"]), slice("web", "web-2", ["n2"], false)],
      [node("n1"), node("n2", true)],
      undefined,
    )
    expect(snapshot.services.map((s) => [s.key, s.addresses.map(formatAddress), s.pool, s.externalTrafficPolicy, s.sharedAddress]))
      .toEqual([["default/web", ["192.0.2.10"], "lan", "Local", false]])
    expect(snapshot.endpoints.get("default/web")).toEqual([{ node: "n1", serving: true }, { node: "n2", serving: false }])
    expect(snapshot.nodes.map((n) => [n.name, n.networkUnavailable, n.addresses?.map(formatAddress)])).toEqual([["n1", false, ["192.0.2.1"]], ["n2", true, ["192.0.2.1"]]])
  })

  it("keeps the views of unchanged objects by reference and builds new ones for replaced objects", () => {
    const [web, api] = [svc("web", ["192.0.2.10"]), svc("api", ["192.0.2.11"])]
    const [webSlice, apiSlice] = [slice("web", "web-1", ["n1"]), slice("api", "api-1", ["n1", "n2"])]
    const nodes = [node("n1"), node("n2")]
    const first = snapshotOf([web, api], [webSlice, apiSlice], nodes, undefined)
    // The watch replaced api (a new address) and web's slice; web and api's slice are the same objects.
    const api2 = svc("api", ["192.0.2.12"])
    const webSlice2 = slice("web", "web-1", ["n2"])
    const second = snapshotOf([web, api2], [webSlice2, apiSlice], nodes, undefined)
    expect(second.services[0]).toBe(first.services[0])
    expect(second.services[1]).not.toBe(first.services[1])
    expect(second.services[1]!.addresses.map(formatAddress)).toEqual(["192.0.2.12"])
    expect(second.endpoints.get("default/api")).toBe(first.endpoints.get("default/api"))
    expect(second.endpoints.get("default/web")).toEqual([{ node: "n2", serving: true }])
    expect(second.nodes[0]).toBe(first.nodes[0])
    // Another service taking web's address makes web's view a new one (shared), and back.
    const third = snapshotOf([web, api2, svc("twin", ["192.0.2.10"])], [webSlice2, apiSlice], nodes, undefined)
    expect(third.services[0]).not.toBe(second.services[0])
    expect(third.services[0]!.sharedAddress).toBe(true)
    expect(snapshotOf([web, api2], [webSlice2, apiSlice], nodes, undefined).services[0]!.sharedAddress).toBe(false)
    // A slice replaced by one of another Service, a slice added: the endpoints are grouped again.
    const moved = snapshotOf([web, api2], [slice("api", "api-2", ["n3"]), apiSlice], nodes, undefined)
    expect([...moved.endpoints]).toEqual([["default/api", [{ node: "n3", serving: true }, { node: "n1", serving: true }, { node: "n2", serving: true }]]])
    const added = snapshotOf([web, api2], [webSlice2, apiSlice, slice("web", "web-3", ["n3"])], nodes, undefined)
    expect(added.endpoints.get("default/web")).toEqual([{ node: "n2", serving: true }, { node: "n3", serving: true }])
  })
})

// ClusterSnapshots against the informers' events: for random adds, updates and deletes of Services
// (addresses from a small pool, so some are shared; type and class changing) and EndpointSlices (several
// per Service, moving between Services), each snapshot holds what a snapshot made from the lists at that
// moment holds, and its changes name every Service whose view or endpoint list is not the object it was
// in the snapshot before, with its view now. Shown to fail with a missed event and with a change left out.
type Event =
  | { readonly _tag: "Service"; readonly i: number; readonly ips: ReadonlyArray<number>; readonly lb: boolean; readonly other: boolean; readonly local: boolean; readonly label: number }
  | { readonly _tag: "DeleteService"; readonly i: number }
  | { readonly _tag: "Slice"; readonly j: number; readonly service: number | undefined; readonly nodes: ReadonlyArray<string>; readonly ready: boolean }
  | { readonly _tag: "DeleteSlice"; readonly j: number }
  | { readonly _tag: "Snapshot" }

const event: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ i: fc.nat({ max: 7 }), ips: fc.subarray([0, 1, 2, 3], { maxLength: 2 }), lb: fc.boolean(), other: fc.boolean(), local: fc.boolean(), label: fc.nat({ max: 2 }) })
    .map((r) => ({ _tag: "Service", ...r, lb: r.lb || r.ips.length > 0, other: r.other && r.label === 0 }) as const),
  fc.nat({ max: 7 }).map((i) => ({ _tag: "DeleteService", i }) as const),
  fc.record({ j: fc.nat({ max: 11 }), service: fc.option(fc.nat({ max: 7 }), { nil: undefined, freq: 6 }), nodes: fc.subarray(["n1", "n2", "n3"]), ready: fc.boolean() })
    .map((r) => ({ _tag: "Slice", ...r }) as const),
  fc.nat({ max: 11 }).map((j) => ({ _tag: "DeleteSlice", j }) as const),
  fc.constant({ _tag: "Snapshot" } as const),
)

const sortedEndpoints = (m: ReadonlyMap<string, ReadonlyArray<{ node: string; serving: boolean }>>) =>
  [...m].map(([k, list]) => [k, list.map((e) => `${e.node}:${e.serving}`).sort()] as const).sort((a, b) => a[0].localeCompare(b[0]))
const viewText = (s: ClusterSnapshot) =>
  [...s.services].sort((a, b) => a.key.localeCompare(b.key)).map((v) => JSON.stringify([v.key, v.addresses.map(formatAddress), v.sharedAddress, v.pool, v.externalTrafficPolicy, v.labels]))

/** Runs the events; throws at the first snapshot that differs from the lists' or whose changes are incomplete. */
/** The speaker's cache projections, applied after the builder saw each object (as the informer applies them). */
interface Projections {
  readonly service: (s: V1Service) => void
  readonly slice: (s: V1EndpointSlice) => void
}
const speakerProjections: Projections = { service: projectService, slice: projectEndpointSlice }

const followEvents = (events: ReadonlyArray<Event>, bug?: "missed event" | "change left out", project?: Projections): void => {
  const builder = new ClusterSnapshots(undefined)
  const services = new Map<string, V1Service>()
  const slices = new Map<string, V1EndpointSlice>()
  const nodes = [node("n1"), node("n2"), node("n3")]
  let previous: ClusterSnapshot | undefined
  let updates = 0
  for (const e of events) {
    switch (e._tag) {
      case "Service": {
        const s = svc(`s${e.i}`, e.ips.map((n) => `192.0.2.${10 + n}`), { type: e.lb ? "LoadBalancer" : "ClusterIP", ...(e.other ? { loadBalancerClass: "else" } : {}), externalTrafficPolicy: e.local ? "Local" : "Cluster" })
        s.metadata!.labels = { app: `l${e.label}` }
        const key = `default/s${e.i}`
        builder.service(services.has(key) ? "update" : "add", s)
        // The lists hold the whole objects; the builder's are cut down in place.
        services.set(key, structuredClone(s))
        project?.service(s)
        break
      }
      case "DeleteService": {
        const key = `default/s${e.i}`
        const s = services.get(key)
        if (s === undefined) break
        services.delete(key)
        builder.service("delete", s)
        break
      }
      case "Slice": {
        const s = slice(`s${e.service}`, `x${e.j}`, e.nodes, e.ready)
        if (e.service === undefined) s.metadata!.labels = {}
        const key = `default/x${e.j}`
        const verb = slices.has(key) ? "update" : "add"
        slices.set(key, structuredClone(s))
        if (bug === "missed event" && verb === "update" && updates++ === 0) break
        builder.slice(verb, s)
        project?.slice(s)
        break
      }
      case "DeleteSlice": {
        const key = `default/x${e.j}`
        const s = slices.get(key)
        if (s === undefined) break
        slices.delete(key)
        builder.slice("delete", s)
        break
      }
      case "Snapshot": {
        const { snapshot, changes } = builder.next(nodes)
        const expected = snapshotOf([...services.values()], [...slices.values()], nodes, undefined)
        expect(viewText(snapshot)).toEqual(viewText(expected))
        expect(sortedEndpoints(snapshot.endpoints)).toEqual(sortedEndpoints(expected.endpoints))
        if (previous === undefined) {
          expect(changes).toBeUndefined()
        } else {
          expect(changes?.since).toBe(previous)
          const named = new Map(changes!.services)
          if (bug === "change left out" && named.size > 0) named.delete([...named.keys()][0]!)
          const before = new Map(previous.services.map((v) => [v.key, v]))
          const now = new Map(snapshot.services.map((v) => [v.key, v]))
          for (const key of new Set([...before.keys(), ...now.keys()])) {
            const moved = before.get(key) !== now.get(key) || previous.endpoints.get(key) !== snapshot.endpoints.get(key)
            if (moved) expect(named.has(key), `${key} changed but not named`).toBe(true)
            if (named.has(key)) expect(named.get(key)).toBe(now.get(key))
          }
        }
        previous = snapshot
        break
      }
    }
  }
}

describe("ClusterSnapshots (property)", () => {
  const events = fc.array(event, { minLength: 20, maxLength: 80 }).map((list) => [...list, { _tag: "Snapshot" } as const])

  it("each snapshot holds what the lists hold, and its changes name every Service whose view or endpoints changed", () => {
    fc.assert(fc.property(events, (list) => followEvents(list)), { numRuns: 300 })
  })

  it("the same with the speaker's cache projections (Services, EndpointSlices cut down in place)", () => {
    fc.assert(fc.property(events, (list) => followEvents(list, undefined, speakerProjections)), { numRuns: 300 })
  })

  it("the property sees a projection that drops what the snapshot reads", () => {
    const lossy: Projections = {
      ...speakerProjections,
      slice: (s) => {
        projectEndpointSlice(s)
        for (const e of s.endpoints ?? []) e.conditions = {}
      },
    }
    expect(fc.check(fc.property(events, (list) => followEvents(list, undefined, lossy)), { numRuns: 300 }).failed).toBe(true)
  })

  it("the property sees a missed event and a change left out", () => {
    for (const bug of ["missed event", "change left out"] as const) {
      expect(fc.check(fc.property(events, (list) => followEvents(list, bug)), { numRuns: 300 }).failed, bug).toBe(true)
    }
  })
})
