// The same-node hand-over between an old and a new speaker (shell/speaker/hand-over.ts), over real
// abstract Unix sockets: none found, released in order, a failing step, a silent predecessor, one
// listener per node.
import { createServer, type Socket } from "node:net"
import { describe, expect, it } from "vitest"
import { findPredecessor, handOverAddress, listenForSuccessor, releaseSteps } from "../../../shell/speaker/hand-over.ts"

let count = 0
const freshAddress = () => handOverAddress(`test-${process.pid}-${++count}`)

describe("speaker hand-over", () => {
  it("finds no predecessor where nobody listens", async () => {
    expect(await findPredecessor(freshAddress())).toBeUndefined()
  })

  it("runs the release steps in order (one put first), answers once they are done, and frees the name for the successor", async () => {
    const address = freshAddress()
    const done: Array<string> = []
    const steps = releaseSteps((name) => done.push(`failed ${name}`))
    steps.add("ports", async () => {
      await new Promise((r) => setTimeout(r, 30))
      done.push("ports")
    })
    steps.add("membership", () => {
      done.push("membership")
    }, "first")
    await listenForSuccessor(address, steps)
    const predecessor = await findPredecessor(address)
    expect(predecessor).toBeDefined()
    expect(steps.released()).toBe(false)
    await predecessor?.release(5_000)
    expect(done).toEqual(["membership", "ports"])
    expect(steps.released()).toBe(true)
    // The successor listens there next.
    const next = await listenForSuccessor(address, releaseSteps(() => undefined))
    await next.close()
  })

  it("reports a step that fails and still runs the next ones", async () => {
    const address = freshAddress()
    const done: Array<string> = []
    const steps = releaseSteps((name, error) => done.push(`${name} failed: ${String(error)}`))
    steps.add("bgp", () => {
      throw new Error("boom")
    })
    steps.add("membership", () => {
      done.push("membership")
    })
    await listenForSuccessor(address, steps)
    await (await findPredecessor(address))?.release(5_000)
    expect(done).toEqual(["bgp failed: Error: boom", "membership"])
  })

  it("gives up on a predecessor that does not answer within the timeout", async () => {
    const address = freshAddress()
    const held: Array<Socket> = []
    const silent = createServer((socket) => held.push(socket))
    await new Promise<void>((r) => silent.listen(address, () => r()))
    try {
      const predecessor = await findPredecessor(address)
      const started = performance.now()
      await expect(predecessor?.release(200)).rejects.toThrow("did not release in 200 ms")
      expect(performance.now() - started).toBeGreaterThanOrEqual(150)
    } finally {
      for (const socket of held) socket.destroy()
      silent.close()
    }
  })

  it("says so when the predecessor goes away before releasing", async () => {
    const address = freshAddress()
    const leaving = createServer((socket) => socket.destroy())
    await new Promise<void>((r) => leaving.listen(address, () => r()))
    try {
      const predecessor = await findPredecessor(address)
      await expect(predecessor?.release(5_000)).rejects.toThrow("went away before it released")
    } finally {
      leaving.close()
    }
  })

  it("refuses a second listener for the same node", async () => {
    const address = freshAddress()
    const first = await listenForSuccessor(address, releaseSteps(() => undefined))
    try {
      await expect(listenForSuccessor(address, releaseSteps(() => undefined))).rejects.toThrow("EADDRINUSE")
    } finally {
      await first.close()
    }
  })
})
