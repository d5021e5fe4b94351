// Kubernetes events (events.k8s.io/v1) as the controller and the speaker write them: one per decision
// the user should see, on the object it concerns, named after it, with the note cut to the 1 kB the
// API allows.
import { Effect } from "effect"
import type { Regarding } from "../../core/controller/loop.ts"
import type { ControllerEvent as EventNote } from "../../core/controller/reconcile.ts"
import type { KubeApiError } from "./api-error.ts"
import { KubeApi, microTime, resources } from "./kube-api.ts"

export type { EventNote, Regarding }

export interface Reporter {
  /** metallb.io/controller or metallb.io/speaker. */
  readonly controller: string
  /** The pod or node writing. */
  readonly instance: string
}

/** events.k8s.io limits the note to 1 kB. */
export const noteLimit = 1024

export const createEvent = (regarding: Regarding, event: EventNote, reporter: Reporter, nowMs: number): Effect.Effect<void, KubeApiError, KubeApi> =>
  Effect.gen(function* () {
    const api = yield* KubeApi
    yield* api.create(resources.events, regarding.namespace, {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { generateName: `${regarding.name || "object"}-` },
      eventTime: microTime(nowMs),
      reportingController: reporter.controller,
      reportingInstance: reporter.instance,
      action: event.reason,
      reason: event.reason,
      type: event.type,
      note: event.message.length > noteLimit ? `${event.message.slice(0, noteLimit - 3)}...` : event.message,
      regarding,
    })
  })
