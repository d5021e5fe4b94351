// The one driver loop of a speaker node: every input (informers, membership, link polls, rescans,
// timers, failures reported by the other drivers) goes into ONE queue; a single fiber takes them in
// order, steps core/speaker/node and executes the outputs before taking the next. Nothing else
// changes what the drivers were told, so two sources can no longer overwrite each other's changes
// (the L2 plane race between the reconcile and the link watch). Time is Effect's Clock (a TestClock
// in tests); timers are fibers in the driver's scope.
import { Clock, Effect, Fiber, Queue, type Scope } from "effect"
import { initialNode, type NodeInput, type NodeOutput, type NodeState, step, type TimerName } from "../../core/speaker/node.ts"
import type { NodeSettings } from "../../core/speaker/settings.ts"

/** An input without its time: the loop stamps it when it takes it. */
export type UntimedInput = NodeInput extends infer I ? (I extends { readonly nowMs: number } ? Omit<I, "nowMs"> : never) : never

export interface NodeDriver {
  /** Queue an input; safe from any callback (never blocks, never runs the machine itself). */
  readonly offer: (input: UntimedInput) => void
  /**
   * Queue an input that describes the whole of something (the cluster view, the configuration), built
   * when the loop takes it. Until then a second offer under the same key replaces the first: however
   * fast the informers change and however long a pass takes, one such input per key waits, never a
   * backlog of superseded snapshots (the speaker grew past 4 GiB queueing one per 20 ms at 2,800 Services).
   */
  readonly offerLatest: (key: string, make: () => UntimedInput) => void
  /** Inputs waiting to be taken (bounded by the latest-wins keys plus the event inputs in flight). */
  readonly queued: () => number
  /** The machine's state after the last input (for tests and metrics). */
  readonly state: () => NodeState
}

export interface NodeDriverOptions {
  readonly settings: NodeSettings
  /** Executes one output (StartTimer is the loop's own); must not fail. */
  readonly execute: (output: NodeOutput) => Effect.Effect<void>
  /** Told how long each input took to decide and execute. */
  readonly onStepped?: (seconds: number) => void
}

export const runNodeDriver = (options: NodeDriverOptions): Effect.Effect<NodeDriver, never, Scope.Scope> =>
  Effect.gen(function* () {
    const inputs = yield* Queue.unbounded<() => UntimedInput>()
    const offer = (input: UntimedInput) => {
      Queue.offerUnsafe(inputs, () => input)
    }
    /** key -> the newest builder of its input, while one waits in the queue. */
    const latest = new Map<string, () => UntimedInput>()
    const offerLatest = (key: string, make: () => UntimedInput) => {
      const waiting = latest.has(key)
      latest.set(key, make)
      if (waiting) return
      Queue.offerUnsafe(inputs, () => {
        const newest = latest.get(key) ?? make
        latest.delete(key)
        return newest()
      })
    }
    let state = initialNode(options.settings)
    const timers = new Map<TimerName, Fiber.Fiber<void>>()
    const startTimer = (name: TimerName, delayMs: number) =>
      Effect.gen(function* () {
        const previous = timers.get(name)
        if (previous !== undefined) yield* Fiber.interrupt(previous)
        timers.set(name, yield* Effect.sleep(`${delayMs} millis`).pipe(
          Effect.andThen(Effect.sync(() => offer({ _tag: "TimerFired", name }))),
          Effect.forkScoped,
        ))
      })
    const handle = (input: UntimedInput) =>
      Effect.gen(function* () {
        const startMs = yield* Clock.currentTimeMillis
        const t = step(state, { ...input, nowMs: startMs } as NodeInput)
        state = t.state
        for (const output of t.outputs) {
          if (output._tag === "StartTimer") yield* startTimer(output.name, output.delayMs)
          else yield* options.execute(output)
        }
        if (options.onStepped !== undefined) options.onStepped(((yield* Clock.currentTimeMillis) - startMs) / 1000)
      })
    yield* Queue.take(inputs).pipe(Effect.flatMap((next) => handle(next())), Effect.forever, Effect.forkScoped)
    return { offer, offerLatest, queued: () => Queue.sizeUnsafe(inputs), state: () => state }
  })
