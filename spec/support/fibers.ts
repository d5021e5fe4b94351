// The speaker's Fibers port for a test: a scope of the test's own, closed with close() (afterAll), so
// the drivers' fibers and sockets end with the test as they end with the speaker's scope.
import { Effect, Exit, Scope } from "effect"
import { type Fibers, makeFibers } from "../../shell/speaker/fibers.ts"

export interface TestFibers extends Fibers {
  readonly shutdown: () => Promise<void>
}

export const testFibers = (): TestFibers => {
  const scope = Scope.makeUnsafe()
  const fibers = Effect.runSync(makeFibers.pipe(Scope.provide(scope)))
  return { ...fibers, shutdown: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}
