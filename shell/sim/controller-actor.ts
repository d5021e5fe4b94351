// The simulated controller: the production machine (core/controller/loop.ts) with the production
// timings (core/controller/settings.ts) over the simulated API server. Like shell/controller/, it runs
// a pass passDelayMs after the first change of a burst and every resyncIntervalMs, feeds the machine
// what changed since the last pass, and carries out its writes (here at once, on the simulated
// cluster). It can crash and restart, so scenarios check that a restart from status changes no address.
import { initialLoopState, type LoopInput, type LoopOutput, type LoopState, step } from "../../core/controller/loop.ts"
import type { ControllerState } from "../../core/controller/reconcile.ts"
import { allocatedFromPoolAnnotation } from "../../core/controller/service.ts"
import { passDelayMs, resyncIntervalMs } from "../../core/controller/settings.ts"
import { SimCluster } from "./cluster.ts"
import type { SimContext } from "./context.ts"

const namespace = SimCluster.namespace

export class SimController {
  private machine: LoopState = initialLoopState(namespace)
  private pending = false
  private resyncTimer: unknown
  private lastSeen = -1
  /** Per service, the resourceVersion last fed to the machine. */
  private readonly fed = new Map<string, string | undefined>()
  private fedDocuments: ReadonlyArray<unknown> | undefined
  alive = true
  reconciles = 0
  private readonly cluster: SimCluster
  private readonly ctx: SimContext

  constructor(ctx: SimContext, cluster: SimCluster) {
    this.ctx = ctx
    this.cluster = cluster
    cluster.onChange(() => this.schedule())
    this.start()
  }

  get busy(): boolean {
    return this.pending || (this.alive && this.lastSeen !== this.cluster.version)
  }

  get controllerState(): ControllerState {
    return this.machine.controller
  }

  private start(): void {
    this.feed([{ _tag: "LeadershipChanged", leading: true }])
    this.resyncTimer = this.ctx.timers.set(resyncIntervalMs, () => this.resync())
    this.schedule()
  }

  private resync(): void {
    if (!this.alive) return
    this.resyncTimer = this.ctx.timers.set(resyncIntervalMs, () => this.resync())
    this.pass()
  }

  private schedule(): void {
    if (!this.alive || this.pending) return
    this.pending = true
    this.ctx.timers.set(passDelayMs, () => {
      this.pending = false
      if (this.alive) this.pass()
    })
  }

  crash(): void {
    this.alive = false
    if (this.resyncTimer !== undefined) this.ctx.timers.clear(this.resyncTimer)
    this.resyncTimer = undefined
    this.ctx.trace("controller", "crashed")
  }

  restart(): void {
    this.alive = true
    this.machine = initialLoopState(namespace)
    this.fed.clear()
    this.fedDocuments = undefined
    this.ctx.trace("controller", "restarted (state rebuilt from status)")
    this.start()
  }

  /** What changed in the cluster since the last pass, as the machine's inputs. */
  private changes(): Array<LoopInput> {
    const inputs: Array<LoopInput> = []
    const views = this.cluster.serviceViews()
    const present = new Set<string>()
    const upserted: Array<LoopInput> = []
    for (const view of views) {
      const key = `${view.namespace}/${view.name}`
      present.add(key)
      const resourceVersion = this.cluster.resourceVersionOf(key)
      if (this.fed.has(key) && this.fed.get(key) === resourceVersion) continue
      this.fed.set(key, resourceVersion)
      upserted.push({ _tag: "ServiceUpserted", service: { view, resourceVersion } })
    }
    for (const key of [...this.fed.keys()]) {
      if (present.has(key)) continue
      this.fed.delete(key)
      inputs.push({ _tag: "ServiceDeleted", key })
    }
    inputs.push(...upserted)
    const documents = this.cluster.configDocuments()
    const changed = this.fedDocuments === undefined || documents.length !== this.fedDocuments.length || documents.some((d, i) => d !== this.fedDocuments?.[i])
    if (changed) {
      this.fedDocuments = documents
      inputs.push({ _tag: "ConfigChanged", sources: this.cluster.configSources() })
    }
    return inputs
  }

  private pass(): void {
    this.reconciles += 1
    this.feed([...this.changes(), { _tag: "PassDue", nowMs: this.ctx.scheduler.nowMs }])
    // After the writes: they bump the version, and their notification is ours.
    this.lastSeen = this.cluster.version
  }

  private feed(inputs: ReadonlyArray<LoopInput>): void {
    const queue = [...inputs]
    while (queue.length > 0) {
      const { state, outputs } = step(this.machine, queue.shift() as LoopInput)
      this.machine = state
      queue.push(...this.execute(outputs))
    }
  }

  /** Writes land at once on the simulated API server; nothing fails, so nothing goes back to the machine. */
  private execute(outputs: ReadonlyArray<LoopOutput>): ReadonlyArray<LoopInput> {
    const writes = new Map<string, { ingress?: ReadonlyArray<string>; pool?: { readonly pool: string | undefined }; reasons: Array<string> }>()
    const entry = (key: string) => {
      let e = writes.get(key)
      if (e === undefined) {
        e = { reasons: [] }
        writes.set(key, e)
      }
      return e
    }
    for (const output of outputs) {
      switch (output._tag) {
        case "WriteServiceStatus":
          entry(output.key).ingress = output.ingress
          break
        case "WritePoolAnnotation":
          entry(output.key).pool = { pool: output.pool }
          break
        case "Emit":
          if (output.regarding.kind === "Service") entry(output.key).reasons.push(output.event.reason)
          else this.ctx.trace("controller", `${output.event.reason} on ${output.regarding.kind} ${output.regarding.name}`)
          break
        case "Log":
          // The first line (the errors follow on the next ones and have their own events).
          this.ctx.trace("controller", (output.message.split("\n")[0] ?? "").replace(/^controller: /, "").replace(/:$/, ""))
          break
        default:
          break
      }
    }
    if (writes.size === 0) return []
    const views = new Map(this.cluster.serviceViews().map((v) => [`${v.namespace}/${v.name}`, v]))
    for (const [key, write] of writes) {
      const view = views.get(key)
      if (view === undefined) continue
      const ingress = write.ingress ?? view.ingressIPs
      if (write.ingress !== undefined) this.ctx.trace("controller", `${key} -> [${ingress.join(", ")}]${write.reasons.map((r) => ` ${r}`).join("")}`)
      if (write.ingress === undefined && write.pool === undefined) continue
      this.cluster.writeStatus(key, ingress, write.pool !== undefined ? write.pool.pool : view.annotations[allocatedFromPoolAnnotation])
    }
    return []
  }
}
