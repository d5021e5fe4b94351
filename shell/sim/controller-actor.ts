// The simulated controller: core/controller over the simulated API server, with the same debounce
// and the same "last valid configuration stays" rule as shell/kube/controller.ts. It can crash and
// restart, so scenarios check that a restart from status changes no address.
import { resolve } from "../../core/config/resolve.ts"
import { applyConfig, type ControllerState, initialState, reconcileAll } from "../../core/controller/reconcile.ts"
import type { SimCluster } from "./cluster.ts"
import type { SimContext } from "./context.ts"

export class SimController {
  private state: ControllerState = initialState
  private fingerprint: string | undefined
  private pending = false
  private lastSeen = -1
  alive = true
  reconciles = 0
  private readonly cluster: SimCluster
  private readonly ctx: SimContext
  private readonly debounceMs: number

  constructor(ctx: SimContext, cluster: SimCluster, debounceMs = 50) {
    this.ctx = ctx
    this.cluster = cluster
    this.debounceMs = debounceMs
    cluster.onChange(() => this.schedule())
  }

  get busy(): boolean {
    return this.pending || (this.alive && this.lastSeen !== this.cluster.version)
  }

  get controllerState(): ControllerState {
    return this.state
  }

  private schedule(): void {
    if (!this.alive || this.pending) return
    this.pending = true
    this.ctx.scheduler.after(this.debounceMs, () => {
      this.pending = false
      if (this.alive) this.reconcile()
    })
  }

  crash(): void {
    this.alive = false
    this.ctx.trace("controller", "crashed")
  }

  restart(): void {
    this.alive = true
    this.state = initialState
    this.fingerprint = undefined
    this.ctx.trace("controller", "restarted (state rebuilt from status)")
    this.schedule()
  }

  private reconcile(): void {
    this.reconciles += 1
    const documents = this.cluster.configDocuments()
    const fingerprint = JSON.stringify(documents)
    if (fingerprint !== this.fingerprint) {
      const resolution = resolve(documents.map((value) => ({ value })))
      if (resolution._tag === "Valid") {
        this.state = applyConfig(this.state, resolution.config)
        this.fingerprint = fingerprint
        this.ctx.trace("controller", `configuration applied: ${[...resolution.config.pools.keys()].join(",")}`)
      } else {
        this.ctx.trace("controller", `configuration invalid (${resolution.errors.length} errors), ${this.state.config === undefined ? "none in force yet: every status left as it is" : "keeping the last valid one"}`)
      }
    }
    // Record the version first: the status writes below bump it, and their notification is ours.
    const { state, outcomes } = reconcileAll(this.state, this.cluster.serviceViews(), () => ({}))
    this.state = state
    for (const outcome of outcomes) {
      if (outcome.ingress === undefined) continue
      const before = this.cluster.ingressOf(outcome.key)
      if (JSON.stringify(before) !== JSON.stringify(outcome.ingress)) {
        this.ctx.trace("controller", `${outcome.key} -> [${outcome.ingress.join(", ")}]${outcome.events.map((e) => ` ${e.reason}`).join("")}`)
      }
      this.cluster.writeStatus(outcome.key, outcome.ingress, outcome.ingress.length > 0 ? outcome.pool : undefined)
    }
    this.lastSeen = this.cluster.version
  }
}
