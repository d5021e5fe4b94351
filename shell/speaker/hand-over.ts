// The hand-over between two speakers of one node during a DaemonSet rolling update with maxSurge
// (manifests/base/speaker.yaml): the new pod starts while the old one still runs, and the node's
// addresses must not move to another node and back (connections in flight through this node would be
// reset when the neighbours' caches point elsewhere: the other node's kube-proxy has no conntrack entry
// for them). Both pods share the host's network namespace, so they meet on an abstract Unix socket
// named after the node (no file, gone with the process). The new speaker, once its caches are synced,
// binds the membership port beside the old one (SO_REUSEPORT) and joins as the same member (refuting
// with a higher incarnation), so the member never stops answering; then it asks. The old one first
// closes its membership socket, silently (no Leave): while both are bound the kernel splits the
// datagrams between them by address, so each misses some members' acks and, within the fast profile's
// few hundred milliseconds, would declare them dead and claim their addresses. Then it closes what the
// new one must bind (health and metrics ports, BGP sessions and listener, BFD) and answers. The old one keeps answering ARP/NDP until
// the DaemonSet deletes it, then exits without a hand-over of its own. A speaker that finds no
// predecessor starts as before; one whose successor never asks stops as before.
import { createConnection, createServer, type Server, type Socket } from "node:net"

/** The abstract socket (Linux: a leading NUL) of `nodeName`'s speaker. */
export const handOverAddress = (nodeName: string): string => `\0metallb-ts/speaker-hand-over/${nodeName}`

const request = "release\n"
const reply = "released\n"

/** The old speaker's side: what it releases when its successor asks. */
export interface ReleaseSteps {
  /** Adds a step, run after those added before (or before them: `first`); a failure is reported and skipped. */
  readonly add: (name: string, step: () => Promise<void> | void, at?: "first" | "last") => void
  /** Runs every step once (later calls wait for the first). */
  readonly run: () => Promise<void>
  /** True once the steps ran: this speaker was replaced and stops without leaving the membership. */
  readonly released: () => boolean
}

export const releaseSteps = (onFailure: (name: string, error: unknown) => void): ReleaseSteps => {
  const steps: Array<{ readonly name: string; readonly step: () => Promise<void> | void }> = []
  let running: Promise<void> | undefined
  let done = false
  return {
    add: (name, step, at = "last") => {
      if (at === "first") steps.unshift({ name, step })
      else steps.push({ name, step })
    },
    run: () => {
      running ??= (async () => {
        for (const { name, step } of steps) {
          try {
            await step()
          } catch (error) {
            onFailure(name, error)
          }
        }
        done = true
      })()
      return running
    },
    released: () => done,
  }
}

export interface SuccessorListener {
  readonly close: () => Promise<void>
}

/**
 * Listens for this node's next speaker at `address`: at its request runs `steps`, answers, and stops
 * listening (the successor listens there next). Fails when another process listens there already.
 */
export const listenForSuccessor = (address: string, steps: ReleaseSteps): Promise<SuccessorListener> =>
  new Promise((resolve, reject) => {
    const server: Server = createServer((socket: Socket) => {
      let received = ""
      socket.setEncoding("utf8")
      socket.on("error", () => undefined)
      socket.on("data", (chunk: string) => {
        received += chunk
        if (received !== request) return
        // One successor only: the name is free for it as soon as we have answered.
        server.close()
        void steps.run().then(() => socket.end(reply))
      })
    })
    server.once("error", reject)
    server.listen(address, () => {
      server.off("error", reject)
      server.on("error", () => undefined)
      resolve({ close: () => new Promise((done) => server.close(() => done())) })
    })
  })

export interface Predecessor {
  /** Asks it to release; resolves once it has (its sockets are free), rejects after `timeoutMs` or if it went away. */
  readonly release: (timeoutMs: number) => Promise<void>
}

/** This node's running speaker, if one listens at `address` (undefined: none, start as usual). */
export const findPredecessor = (address: string): Promise<Predecessor | undefined> =>
  new Promise((resolve) => {
    const socket = createConnection(address)
    socket.once("error", () => resolve(undefined))
    socket.once("connect", () => {
      socket.removeAllListeners("error")
      let answered = ""
      let gone: Error | undefined
      let settle: ((error?: Error) => void) | undefined
      const away = (why: string) => new Error(`the previous speaker went away before it released (${why})`)
      socket.setEncoding("utf8")
      socket.on("data", (chunk: string) => {
        answered += chunk
        if (answered === reply) settle?.()
      })
      socket.on("error", (error) => {
        gone ??= away(error.message)
        settle?.(gone)
      })
      socket.on("close", () => {
        gone ??= away("connection closed")
        settle?.(gone)
      })
      resolve({
        release: (timeoutMs) =>
          new Promise<void>((done, fail) => {
            if (gone !== undefined) return fail(gone)
            const timer = setTimeout(() => settle?.(new Error(`the previous speaker did not release in ${timeoutMs} ms`)), timeoutMs)
            settle = (error) => {
              settle = undefined
              clearTimeout(timer)
              socket.destroy()
              if (error === undefined) done()
              else fail(error)
            }
            socket.write(request)
          }),
      })
    })
  })
