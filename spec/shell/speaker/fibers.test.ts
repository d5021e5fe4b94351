// The Fibers port's ownership order, which the speaker's SIGTERM depends on: a finalizer registered
// after the port was made (the hand-over) runs while the sockets opened later are still open and
// while it can still run effects through the port; then the port's fibers are interrupted and the
// sockets' scopes closed, in that order.
import { Effect, Exit, Fiber, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { makeFibers } from "../../../shell/speaker/fibers.ts"

describe("Fibers", () => {
  it("closes after the finalizers registered after it: fibers interrupted first, then the resources' scopes", async () => {
    const events: Array<string> = []
    const scope = Scope.makeUnsafe()
    const fibers = Effect.runSync(makeFibers.pipe(Scope.provide(scope)))
    let socketOpen = false
    // The hand-over, registered after the port: it still sends on the socket and runs through the port.
    Effect.runSync(Scope.addFinalizer(scope, Effect.promise(async () => {
      events.push(`hand-over: socket ${socketOpen ? "open" : "closed"}`)
      events.push(`hand-over: ${await fibers.run(Effect.succeed("ran through the port"))}`)
    })))
    // A socket opened later, while running (a session's dial), and a fiber reading it.
    const socket = fibers.child()
    Effect.runSync(Scope.addFinalizer(socket, Effect.sync(() => {
      socketOpen = false
      events.push("socket closed")
    })))
    socketOpen = true
    const reader = fibers.fork(Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => events.push(`reader interrupted, socket ${socketOpen ? "open" : "closed"}`)))))
    await Effect.runPromise(Scope.close(scope, Exit.void))
    expect(events).toEqual(["hand-over: socket open", "hand-over: ran through the port", "reader interrupted, socket open", "socket closed"])
    expect(Exit.hasInterrupts(await Effect.runPromise(Fiber.await(reader)))).toBe(true)
    // After the owner closed: nothing starts, and closing a resource's scope neither fails nor hangs.
    await expect(fibers.run(Effect.succeed(1))).rejects.toBeDefined()
    await expect(fibers.close(socket)).resolves.toBeUndefined()
    expect(Exit.isSuccess(fibers.now(Effect.succeed(2)))).toBe(true)
  })
})
