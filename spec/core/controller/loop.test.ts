// The controller loop machine: examples of each decision, and properties over random sequences of
// service changes, passes, restarts and configuration pushes (seeds printed on failure).
import fc from "fast-check"
import { HashMap } from "effect"
import { describe, expect, it } from "vitest"
import type { ConfigSources } from "../../../core/config/in-force.ts"
import { initialLoopState, type LoopInput, type LoopOutput, type LoopState, type ServiceSnapshot, step } from "../../../core/controller/loop.ts"
import { allocatedFromPoolAnnotation, serviceKey, type ServiceView } from "../../../core/controller/service.ts"
import { fullPassIntervalMs } from "../../../core/controller/settings.ts"
import { formatAddress } from "../../../core/net/address.ts"
import { loadBalancer } from "./fixtures.ts"

const namespace = "metallb-system"
const pool = (name: string, addresses: ReadonlyArray<string>, status?: Record<string, number>) => ({
  apiVersion: "metallb.io/v1beta1",
  kind: "IPAddressPool",
  metadata: { name, namespace, uid: `uid-${name}` },
  spec: { addresses },
  ...(status === undefined ? {} : { status }),
})
const sourcesOf = (...documents: ReadonlyArray<unknown>): ConfigSources => ({ documents: documents.map((value) => ({ value })), secrets: [], namespace })
const validConfig = sourcesOf(pool("default", ["192.0.2.0/28"]), pool("other", ["198.51.100.0/29"]))
const invalidConfig = sourcesOf(pool("default", ["192.0.2.0/28"]), pool("broken", ["not-an-address"]))

const lb = loadBalancer

/** A small API server: what the machine writes lands here and comes back as a new resourceVersion. */
class Api {
  readonly services = new Map<string, ServiceSnapshot>()
  readonly events: Array<Extract<LoopOutput, { _tag: "Emit" }>> = []
  private version = 0

  upsert(view: ServiceView): LoopInput {
    this.version += 1
    const snapshot = { view, resourceVersion: String(this.version), uid: `uid-${view.name}` }
    this.services.set(serviceKey(view), snapshot)
    return { _tag: "ServiceUpserted", service: snapshot }
  }

  remove(key: string): LoopInput {
    this.services.delete(key)
    return { _tag: "ServiceDeleted", key }
  }

  /** Applies the writes; returns what the watch shows afterwards. */
  apply(outputs: ReadonlyArray<LoopOutput>): ReadonlyArray<LoopInput> {
    const touched = new Map<string, ServiceView>()
    for (const o of outputs) {
      if (o._tag === "Emit") this.events.push(o)
      if (o._tag !== "WriteServiceStatus" && o._tag !== "WritePoolAnnotation") continue
      const view = touched.get(o.key) ?? this.services.get(o.key)?.view
      if (view === undefined) continue
      if (o._tag === "WriteServiceStatus") touched.set(o.key, { ...view, ingressIPs: o.ingress })
      else {
        const { [allocatedFromPoolAnnotation]: _old, ...annotations } = view.annotations
        touched.set(o.key, { ...view, annotations: o.pool === undefined ? annotations : { ...annotations, [allocatedFromPoolAnnotation]: o.pool } })
      }
    }
    return [...touched.values()].map((view) => this.upsert(view))
  }

  ingress(): Record<string, ReadonlyArray<string>> {
    return Object.fromEntries([...this.services].map(([k, s]) => [k, s.view.ingressIPs]))
  }
}

const run = (state: LoopState, inputs: ReadonlyArray<LoopInput>) => {
  let current = state
  const outputs: Array<LoopOutput> = []
  for (const input of inputs) {
    const r = step(current, input)
    current = r.state
    outputs.push(...r.outputs)
  }
  return { state: current, outputs }
}
const tags = (outputs: ReadonlyArray<LoopOutput>) => outputs.map((o) => o._tag)
const writesOf = (outputs: ReadonlyArray<LoopOutput>) => outputs.filter((o) => o._tag === "WriteServiceStatus" || o._tag === "WritePoolAnnotation")
const leading = (config: ConfigSources = validConfig): ReadonlyArray<LoopInput> => [{ _tag: "LeadershipChanged", leading: true }, { _tag: "ConfigChanged", sources: config }]

/** Passes with the writes fed back until nothing is written (at most 10). */
const converge = (state: LoopState, api: Api, nowMs: number) => {
  let current = state
  for (let i = 0; i < 10; i++) {
    const r = run(current, [{ _tag: "PassDue", nowMs }])
    current = r.state
    const back = api.apply(r.outputs)
    if (writesOf(r.outputs).length === 0) return current
    current = run(current, back).state
  }
  throw new Error("no convergence in 10 passes")
}

describe("controller loop: examples", () => {
  it("gives a new service an address: status, pool annotation, one IPAllocated event; ConfigurationState valid", () => {
    const api = new Api()
    const { outputs } = run(initialLoopState(namespace), [...leading(), api.upsert(lb("web")), { _tag: "PassDue", nowMs: 0 }])
    expect(outputs.find((o) => o._tag === "WriteServiceStatus")).toMatchObject({ key: "default/web", ingress: ["192.0.2.0"], firstAddress: true })
    expect(outputs.find((o) => o._tag === "WritePoolAnnotation")).toMatchObject({ key: "default/web", pool: "default" })
    expect(outputs.filter((o) => o._tag === "Emit").map((o) => o._tag === "Emit" && [o.event.reason, o.regarding.uid])).toEqual([["IPAllocated", "uid-web"]])
    expect(outputs.find((o) => o._tag === "WriteConfigurationState")).toEqual({ _tag: "WriteConfigurationState", errors: [], transientOnly: false })
    expect(outputs.filter((o) => o._tag === "WritePoolStatus").map((o) => o._tag === "WritePoolStatus" && [o.name, o.status.assignedIPv4])).toEqual([["default", 1], ["other", 0]])
  })

  it("does nothing while not leading, and nothing for settled services", () => {
    const api = new Api()
    const follower = run(initialLoopState(namespace), [{ _tag: "ConfigChanged", sources: validConfig }, api.upsert(lb("web")), { _tag: "PassDue", nowMs: 0 }])
    expect(follower.outputs).toEqual([])
    const state = converge(run(follower.state, [{ _tag: "LeadershipChanged", leading: true }]).state, api, 0)
    const again = run(state, [{ _tag: "PassDue", nowMs: 1_000 }])
    expect(again.outputs.find((o) => o._tag === "PassDone")).toEqual({ _tag: "PassDone", services: 1, recomputed: 0 })
    const full = run(state, [{ _tag: "PassDue", nowMs: fullPassIntervalMs }])
    expect(full.outputs.find((o) => o._tag === "PassDone")).toEqual({ _tag: "PassDone", services: 1, recomputed: 1 })
    expect(writesOf(full.outputs)).toEqual([])
  })

  it("costs nothing on a settled cluster: a pass recomputes no service, writes nothing, emits nothing", () => {
    const api = new Api()
    let state = run(initialLoopState(namespace), [...leading(), ...["a", "b", "c"].map((n, i) => api.upsert(lb(n, { clusterIPs: [`198.18.0.${i + 1}`] })))]).state
    state = converge(state, api, 0)
    const idle = run(state, [{ _tag: "PassDue", nowMs: 1_000 }, { _tag: "PassDue", nowMs: 3_000 }])
    expect(idle.outputs.filter((o) => o._tag !== "ConfigStatus")).toEqual([
      { _tag: "PassDone", services: 3, recomputed: 0 },
      { _tag: "PassDone", services: 3, recomputed: 0 },
    ])
    // A watch event that repeats a version already seen (a re-list) leaves the machine as it was.
    const repeated = step(state, { _tag: "ServiceUpserted", service: api.services.get("default/a") as ServiceSnapshot })
    expect(repeated.state).toBe(state)
    expect(repeated.outputs).toEqual([])
    // The same configuration again (the safety net re-reads it) recomputes nothing either.
    const sameConfig = run(state, [{ _tag: "ConfigChanged", sources: validConfig }, { _tag: "PassDue", nowMs: 2_000 }])
    expect(sameConfig.outputs.filter((o) => o._tag !== "ConfigStatus")).toEqual([{ _tag: "PassDone", services: 3, recomputed: 0 }])
    // One changed service: one recomputed, and only its writes.
    const changed = run(state, [api.upsert({ ...(api.services.get("default/b")?.view ?? lb("b")), ingressIPs: [] }), { _tag: "PassDue", nowMs: 4_000 }])
    expect(changed.outputs.find((o) => o._tag === "PassDone")).toEqual({ _tag: "PassDone", services: 3, recomputed: 1 })
    expect(writesOf(changed.outputs).map((o) => o.key)).toEqual(["default/b"])
  })

  it("does not repeat a write the watch has not shown yet; retries one that failed", () => {
    const api = new Api()
    const first = run(initialLoopState(namespace), [...leading(), api.upsert(lb("web")), { _tag: "PassDue", nowMs: 0 }])
    const write = first.outputs.find((o) => o._tag === "WriteServiceStatus")
    const second = run(first.state, [{ _tag: "PassDue", nowMs: 100 }, { _tag: "PassDue", nowMs: fullPassIntervalMs }])
    expect(writesOf(second.outputs)).toEqual([])
    const failed = run(second.state, [{ _tag: "ServiceWriteFailed", key: "default/web", writeId: write?._tag === "WriteServiceStatus" ? write.writeId : -1 }, { _tag: "PassDue", nowMs: fullPassIntervalMs + 100 }])
    expect(tags(writesOf(failed.outputs))).toEqual(["WriteServiceStatus", "WritePoolAnnotation"])
    // A stale failure (an older write id) changes nothing.
    const stale = run(second.state, [{ _tag: "ServiceWriteFailed", key: "default/web", writeId: 0 }, { _tag: "PassDue", nowMs: 200 }])
    expect(writesOf(stale.outputs)).toEqual([])
  })

  it("recomputes only the services of a namespace whose labels changed", () => {
    const api = new Api()
    let state = run(initialLoopState(namespace), [...leading(), api.upsert(lb("a")), api.upsert(lb("b", { namespace: "team" }))]).state
    state = converge(state, api, 0)
    const relabelled = run(state, [{ _tag: "NamespaceChanged", namespace: { name: "team", labels: { tier: "gold" }, resourceVersion: "7" } }, { _tag: "PassDue", nowMs: 500 }])
    expect(relabelled.outputs.find((o) => o._tag === "PassDone")).toEqual({ _tag: "PassDone", services: 2, recomputed: 1 })
  })

  it("frees a deleted service's address for the next one", () => {
    const api = new Api()
    let state = converge(run(initialLoopState(namespace), [...leading(), api.upsert(lb("a"))]).state, api, 0)
    state = run(state, [api.remove("default/a"), api.upsert(lb("b"))]).state
    state = converge(state, api, 100)
    expect(api.ingress()).toEqual({ "default/b": ["192.0.2.0"] })
  })

  it("keeps the last valid configuration, reports each error once with an event on the object, and again after a failed report", () => {
    const api = new Api()
    let state = converge(run(initialLoopState(namespace), [...leading(), api.upsert(lb("web"))]).state, api, 0)
    const rejected = run(state, [{ _tag: "ConfigChanged", sources: invalidConfig }, { _tag: "PassDue", nowMs: 100 }])
    expect(writesOf(rejected.outputs)).toEqual([])
    const report = rejected.outputs.find((o) => o._tag === "WriteConfigurationState")
    expect(report?._tag === "WriteConfigurationState" && report.errors.length).toBeGreaterThan(0)
    const events = rejected.outputs.filter((o) => o._tag === "Emit")
    expect(events.map((o) => o._tag === "Emit" && [o.regarding.kind, o.regarding.name, o.regarding.uid, o.event.reason])).toEqual([["IPAddressPool", "broken", "uid-broken", "ConfigurationError"]])
    expect(rejected.outputs).toContainEqual({ _tag: "ConfigStatus", loaded: true, stale: true })
    state = rejected.state
    // Nothing changed: no second resolution, no second report.
    const quiet = run(state, [{ _tag: "ConfigChanged", sources: invalidConfig }, { _tag: "PassDue", nowMs: 200 }])
    expect(tags(quiet.outputs).filter((t) => t === "WriteConfigurationState" || t === "Emit")).toEqual([])
    // The report failed: resolved and reported again, but the event is not repeated.
    const retried = run(quiet.state, [{ _tag: "ConfigReported", ok: false }, { _tag: "PassDue", nowMs: 300 }])
    expect(tags(retried.outputs).filter((t) => t === "WriteConfigurationState" || t === "Emit")).toEqual(["WriteConfigurationState"])
  })

  it("writes a pool's status only when it differs from what the pool shows and from what was last written", () => {
    const api = new Api()
    const first = run(initialLoopState(namespace), [...leading(), api.upsert(lb("web")), { _tag: "PassDue", nowMs: 0 }])
    const poolWrites = (outputs: ReadonlyArray<LoopOutput>) => outputs.filter((o) => o._tag === "WritePoolStatus").map((o) => o._tag === "WritePoolStatus" && o.name)
    expect(poolWrites(first.outputs)).toEqual(["default", "other"])
    expect(poolWrites(run(first.state, [{ _tag: "PassDue", nowMs: 100 }]).outputs)).toEqual([])
    const shown = sourcesOf(
      pool("default", ["192.0.2.0/28"], { assignedIPv4: 1, assignedIPv6: 0, availableIPv4: 15, availableIPv6: 0 }),
      pool("other", ["198.51.100.0/29"], { assignedIPv4: 0, assignedIPv6: 0, availableIPv4: 8, availableIPv6: 0 }),
    )
    const seen = run(first.state, [{ _tag: "ConfigChanged", sources: shown }, { _tag: "PoolStatusWriteFailed", name: "other" }, { _tag: "PassDue", nowMs: 200 }])
    expect(poolWrites(seen.outputs)).toEqual([])
    const failed = run(first.state, [{ _tag: "PoolStatusWriteFailed", name: "other" }, { _tag: "PassDue", nowMs: 200 }])
    expect(poolWrites(failed.outputs)).toEqual(["other"])
  })

  it("drops pending writes when leadership is lost and rebuilds from status when it returns", () => {
    const api = new Api()
    const state = converge(run(initialLoopState(namespace), [...leading(), api.upsert(lb("web")), api.upsert(lb("db"))]).state, api, 0)
    const lost = run(state, [{ _tag: "LeadershipChanged", leading: false }])
    expect(tags(lost.outputs)).toEqual(["DropWrites", "Leading", "ConfigStatus"])
    const back = run(lost.state, [{ _tag: "LeadershipChanged", leading: true }, { _tag: "PassDue", nowMs: 100 }])
    expect(back.state.controller.allocator.allocations.pipe(HashMap.size)).toBe(2)
    expect(writesOf(back.outputs)).toEqual([])
    expect(tags(back.outputs)).toContain("WriteConfigurationState")
  })
})

// ---------------------------------------------------------------------------------------------------
// Properties

type Op =
  | { readonly _tag: "Add"; readonly name: string; readonly pool?: string | undefined; readonly requested?: string | undefined }
  | { readonly _tag: "Delete"; readonly name: string }
  | { readonly _tag: "Pass"; readonly feedBack: boolean; readonly advanceMs: number }
  | { readonly _tag: "Config"; readonly valid: boolean }
  | { readonly _tag: "Restart" }

const names = ["a", "b", "c", "d", "e", "f", "g", "h"]
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    _tag: fc.constant("Add" as const),
    name: fc.constantFrom(...names),
    pool: fc.option(fc.constantFrom("default", "other", "missing"), { nil: undefined }),
    requested: fc.option(fc.constantFrom("192.0.2.3", "198.51.100.2", "203.0.113.9"), { nil: undefined }),
  }, { requiredKeys: ["_tag", "name"] }),
  fc.record({ _tag: fc.constant("Delete" as const), name: fc.constantFrom(...names) }),
  fc.record({ _tag: fc.constant("Pass" as const), feedBack: fc.boolean(), advanceMs: fc.constantFrom(100, 2_000, fullPassIntervalMs) }),
  fc.record({ _tag: fc.constant("Config" as const), valid: fc.boolean() }),
  fc.record({ _tag: fc.constant("Restart" as const) }),
)

const viewOf = (op: Extract<Op, { _tag: "Add" }>, index: number) =>
  lb(op.name, {
    clusterIPs: [`198.18.0.${index + 1}`],
    annotations: {
      ...(op.pool === undefined ? {} : { "metallb.io/address-pool": op.pool }),
      ...(op.requested === undefined ? {} : { "metallb.io/loadBalancerIPs": op.requested }),
    },
  })

interface Trace {
  readonly api: Api
  state: LoopState
  nowMs: number
  /** Writes not yet fed back: key -> the resourceVersion the write was decided on and its ingress. */
  readonly unseen: Map<string, { readonly resourceVersion: string | undefined; readonly ingress: string }>
  readonly violations: Array<string>
}

/** A step function that forgets what it wrote (to show the no-repeat checker fires). */
type Step = typeof step
const forgetful: Step = (state, input) => {
  const r = step(state, input)
  return { ...r, state: { ...r.state, written: HashMap.empty() } }
}

/** Runs ops; records any write of the same content while the watch has not shown the previous one. */
const play = (ops: ReadonlyArray<Op>, stepWith: Step = step): Trace => {
  const api = new Api()
  const trace: Trace = { api, state: initialLoopState(namespace), nowMs: 0, unseen: new Map(), violations: [] }
  let config = validConfig
  let pending: Array<LoopOutput> = []
  const feed = (inputs: ReadonlyArray<LoopInput>) => {
    for (const input of inputs) {
      const r = stepWith(trace.state, input)
      trace.state = r.state
      for (const o of r.outputs) {
        if (o._tag === "WriteServiceStatus") {
          const current = api.services.get(o.key)?.resourceVersion
          const text = JSON.stringify(o.ingress)
          const before = trace.unseen.get(o.key)
          if (before !== undefined && before.resourceVersion === current && before.ingress === text) trace.violations.push(`${o.key} written ${text} twice at version ${current}`)
          trace.unseen.set(o.key, { resourceVersion: current, ingress: text })
        }
      }
      pending.push(...r.outputs)
    }
  }
  const flush = () => {
    const back = api.apply(pending)
    pending = []
    for (const input of back) {
      if (input._tag === "ServiceUpserted") trace.unseen.delete(serviceKey(input.service.view))
    }
    feed(back)
  }
  feed(leading(config))
  ops.forEach((op, index) => {
    switch (op._tag) {
      case "Add":
        feed([api.upsert({ ...viewOf(op, index), ingressIPs: api.services.get(`default/${op.name}`)?.view.ingressIPs ?? [] })])
        break
      case "Delete":
        if (api.services.has(`default/${op.name}`)) feed([api.remove(`default/${op.name}`)])
        break
      case "Pass":
        trace.nowMs += op.advanceMs
        feed([{ _tag: "PassDue", nowMs: trace.nowMs }])
        if (op.feedBack) flush()
        break
      case "Config":
        config = op.valid ? validConfig : invalidConfig
        feed([{ _tag: "ConfigChanged", sources: config }])
        break
      case "Restart":
        flush()
        trace.state = initialLoopState(namespace)
        trace.unseen.clear()
        pending = []
        feed([...leading(config), ...[...api.services.values()].map((service): LoopInput => ({ _tag: "ServiceUpserted", service }))])
        break
    }
  })
  // Writes in flight land in the end.
  flush()
  return trace
}

const settle = (trace: Trace) => {
  const inputs: Array<LoopInput> = []
  for (let i = 0; i < 10; i++) {
    trace.nowMs += 100
    const r = run(trace.state, [...inputs.splice(0), { _tag: "PassDue", nowMs: trace.nowMs }])
    trace.state = r.state
    inputs.push(...trace.api.apply(r.outputs))
    if (writesOf(r.outputs).length === 0) return
  }
  throw new Error("no convergence in 10 passes")
}

const property = <T>(name: string, arb: fc.Arbitrary<T>, check: (value: T) => void, numRuns = 200) =>
  it(name, () => {
    const seed = Date.now() ^ (Math.random() * 0x7fffffff)
    try {
      fc.assert(fc.property(arb, check), { seed, numRuns })
    } catch (error) {
      throw new Error(`${name}: seed ${seed}\n${String(error)}`)
    }
  })

/** What a pass decided that anyone can see: every output but the count of services it recomputed, and the allocations. */
const decided = (r: { readonly state: LoopState; readonly outputs: ReadonlyArray<LoopOutput> }) => ({
  outputs: r.outputs.filter((o) => o._tag !== "PassDone"),
  allocations: [...HashMap.values(r.state.controller.allocator.allocations)]
    .map((a) => `${a.service} ${a.pool} ${a.addresses.map(formatAddress).join(",")}`)
    .sort(),
})

/**
 * `stepWith`, checked at every pass against a pass that recomputes every service from the same state: a
 * pass over the changed services must decide exactly what the full pass decides. Mismatches are recorded.
 */
const checkedAgainstFull = (stepWith: Step, mismatches: Array<string>): Step => (state, input) => {
  const incremental = stepWith(state, input)
  if (input._tag === "PassDue" && state.leading) {
    const full = step({ ...state, lastFullPassMs: undefined }, input)
    const a = JSON.stringify(decided(incremental))
    const b = JSON.stringify(decided(full))
    if (a !== b) mismatches.push(`at ${input.nowMs} ms: incremental ${a}\n  full ${b}`)
  }
  return incremental
}

/** A machine that forgets to recompute a service whose object changed (to show the incremental check fires). */
const blindToUpdates: Step = (state, input) => {
  const r = step(state, input)
  return input._tag === "ServiceUpserted" && HashMap.has(state.services, serviceKey(input.service.view)) ? { ...r, state: { ...r.state, dirty: state.dirty } } : r
}

describe("controller loop: properties", () => {
  const ops = fc.array(opArb, { minLength: 1, maxLength: 40 })

  property("a pass over what changed decides what a pass over every service decides", ops, (sequence) => {
    const mismatches: Array<string> = []
    play([...sequence, { _tag: "Pass", feedBack: true, advanceMs: 100 }], checkedAgainstFull(step, mismatches))
    expect(mismatches).toEqual([])
  })

  it("the incremental check fires on a machine that does not recompute a changed service", () => {
    // a settles, then asks for another pool: only a pass that recomputes it moves it there.
    const sequence: ReadonlyArray<Op> = [
      { _tag: "Add", name: "a" },
      { _tag: "Pass", feedBack: true, advanceMs: 100 },
      { _tag: "Pass", feedBack: true, advanceMs: 100 },
      { _tag: "Add", name: "a", pool: "other" },
      { _tag: "Pass", feedBack: true, advanceMs: 100 },
    ]
    const mismatches: Array<string> = []
    play(sequence, checkedAgainstFull(blindToUpdates, mismatches))
    expect(mismatches.length).toBeGreaterThan(0)
    const healthy: Array<string> = []
    play(sequence, checkedAgainstFull(step, healthy))
    expect(healthy).toEqual([])
  })

  property("no write is repeated before the watch shows the previous one", ops, (sequence) => {
    expect(play(sequence).violations).toEqual([])
  })

  it("the no-repeat check fires on a machine that forgets its writes", () => {
    const sequence: ReadonlyArray<Op> = [{ _tag: "Add", name: "a" }, { _tag: "Pass", feedBack: false, advanceMs: 100 }, { _tag: "Pass", feedBack: false, advanceMs: fullPassIntervalMs }]
    expect(play(sequence, forgetful).violations).toEqual(['default/a written ["192.0.2.0"] twice at version 1'])
  })

  property("a restart from status changes no address", ops, (sequence) => {
    const trace = play([...sequence, { _tag: "Config", valid: true }])
    settle(trace)
    const before = trace.api.ingress()
    // A new leader sees the services in any order: most addresses first is its own business.
    const services = [...trace.api.services.values()].reverse()
    const r = run(initialLoopState(namespace), [...leading(), ...services.map((service): LoopInput => ({ _tag: "ServiceUpserted", service })), { _tag: "PassDue", nowMs: 0 }])
    expect(r.outputs.filter((o) => o._tag === "WriteServiceStatus")).toEqual([])
    trace.api.apply(r.outputs)
    expect(trace.api.ingress()).toEqual(before)
  })

  property("an invalid configuration never costs an address", ops, (sequence) => {
    const trace = play([...sequence, { _tag: "Config", valid: true }])
    settle(trace)
    const before = trace.api.ingress()
    const allocations = HashMap.size(trace.state.controller.allocator.allocations)
    const r = run(trace.state, [{ _tag: "ConfigChanged", sources: invalidConfig }, { _tag: "PassDue", nowMs: trace.nowMs + 100 }, { _tag: "PassDue", nowMs: trace.nowMs + 100 + fullPassIntervalMs }])
    expect(r.outputs.filter((o) => o._tag === "WriteServiceStatus")).toEqual([])
    expect(HashMap.size(r.state.controller.allocator.allocations)).toBe(allocations)
    expect(trace.api.ingress()).toEqual(before)
  })

  property("events are not repeated for the same outcome", ops, (sequence) => {
    const trace = play([...sequence, { _tag: "Config", valid: true }])
    settle(trace)
    const r = run(trace.state, [{ _tag: "PassDue", nowMs: trace.nowMs + 100 }, { _tag: "PassDue", nowMs: trace.nowMs + 100 + fullPassIntervalMs }, { _tag: "PassDue", nowMs: trace.nowMs + 100 + 2 * fullPassIntervalMs }])
    expect(r.outputs.filter((o) => o._tag === "Emit")).toEqual([])
  })
})
