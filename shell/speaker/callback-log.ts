// Logging from plain callbacks (sockets, protocol drivers) without starting fibers outside the
// program's scope: a line is queued and one scoped fiber writes it.
import { Effect, Queue, type Scope } from "effect"

export type CallbackLog = (level: "debug" | "info" | "warning", message: string) => void

export const callbackLog: Effect.Effect<CallbackLog, never, Scope.Scope> = Effect.gen(function* () {
  const lines = yield* Queue.unbounded<readonly ["debug" | "info" | "warning", string]>()
  yield* Queue.take(lines).pipe(
    Effect.flatMap(([level, message]) =>
      level === "debug" ? Effect.logDebug(message) : level === "info" ? Effect.logInfo(message) : Effect.logWarning(message)),
    Effect.forever,
    Effect.forkScoped,
  )
  return (level, message) => {
    Queue.offerUnsafe(lines, [level, message])
  }
})
