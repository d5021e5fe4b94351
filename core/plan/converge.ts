// What the controller machine settles on: core/controller/reconcile.ts's passes over every Service, each
// pass's writes (status, pool annotation) fed back as the watch would show them, until a pass writes
// nothing. The loop (core/controller/loop.ts) recomputes only dirty services, but a settled service's
// outcome does not change when it is recomputed and every 30 s it recomputes all; so full passes reach
// the state the running controller reaches. A service losing its address in one pass frees it for a
// pending service in the next: that is why one pass is not enough.
import { poolAnnotationOf } from "../controller/loop.ts"
import { type ControllerOptions, type ControllerState, reconcileAll, type ServiceOutcome } from "../controller/reconcile.ts"
import { allocatedFromPoolAnnotation, serviceKey, type ServiceView } from "../controller/service.ts"

export interface Converged {
  readonly state: ControllerState
  /** The services as they look once settled. */
  readonly views: ReadonlyArray<ServiceView>
  /** Per service, the outcome of the pass that made it give up its addresses (its `released` says why). */
  readonly released: ReadonlyMap<string, ServiceOutcome>
  /** Per service, its outcome in the last pass (events, allocation failure). */
  readonly last: ReadonlyMap<string, ServiceOutcome>
  readonly passes: number
  /** False: still writing after maxPasses (reported, never silently cut). */
  readonly settled: boolean
}

export const maxPasses = 20

const sameList = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => a.length === b.length && a.every((x, i) => x === b[i])

/** The service as the watch shows it after the controller wrote the outcome; undefined: nothing to write. */
const written = (view: ServiceView, outcome: ServiceOutcome): ServiceView | undefined => {
  if (outcome.ingress === undefined) return undefined
  const pool = poolAnnotationOf(outcome)
  if (sameList(view.ingressIPs, outcome.ingress) && view.annotations[allocatedFromPoolAnnotation] === pool) return undefined
  const { [allocatedFromPoolAnnotation]: _old, ...annotations } = view.annotations
  return { ...view, ingressIPs: outcome.ingress, annotations: pool === undefined ? annotations : { ...annotations, [allocatedFromPoolAnnotation]: pool } }
}

export const converge = (
  start: ControllerState,
  services: ReadonlyArray<ServiceView>,
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>>,
  options: ControllerOptions,
): Converged => {
  let state = start
  const views = new Map(services.map((s) => [serviceKey(s), s]))
  const released = new Map<string, ServiceOutcome>()
  const last = new Map<string, ServiceOutcome>()
  for (let passes = 1; passes <= maxPasses; passes++) {
    const pass = reconcileAll(state, [...views.values()], namespaceLabels, options)
    state = pass.state
    let writes = 0
    for (const outcome of pass.outcomes) {
      last.set(outcome.key, outcome)
      if (outcome.released !== undefined && !released.has(outcome.key)) released.set(outcome.key, outcome)
      const view = views.get(outcome.key)
      const next = view === undefined ? undefined : written(view, outcome)
      if (next === undefined) continue
      views.set(outcome.key, next)
      writes += 1
    }
    if (writes === 0) return { state, views: [...views.values()], released, last, passes, settled: true }
  }
  return { state, views: [...views.values()], released, last, passes: maxPasses, settled: false }
}
