// The unnumbered session's adapters without sockets: the transport dials "<link-local>%<interface>"
// once the neighbour is known, reports a neighbour that never advertises as a failed dial, and a
// cancel stops either step; the BFD link opens when the neighbour is known, drops packets before,
// hands received packets to the session, and moves to a new neighbour's address.
import { describe, expect, it } from "vitest"
import type { BfdLink } from "../../../shell/speaker/bfd-transport.ts"
import type { Connection, Transport } from "../../../shell/speaker/bgp-peer.ts"
import { type LinkLocalNeighbour, neighbourBfdLink, unnumberedTransport } from "../../../shell/speaker/bgp-unnumbered.ts"

/** A neighbour whose advertisements the test plays: `advertise(address)`. */
const fakeNeighbour = () => {
  let current: string | undefined
  const waiters: Array<(address: string) => void> = []
  const neighbour: LinkLocalNeighbour = {
    interfaceName: "eth1",
    current: () => current,
    address: (timeoutMs) =>
      current !== undefined
        ? Promise.resolve(current)
        : new Promise((resolve, reject) => {
          waiters.push(resolve)
          setTimeout(() => reject(new Error(`no Router Advertisement on interface eth1 within ${timeoutMs} ms`)), timeoutMs)
        }),
    close: async () => {},
  }
  return {
    neighbour,
    advertise: (address: string) => {
      current = address
      for (const waiter of waiters.splice(0)) waiter(address)
    },
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20))

const connection = { write: () => {}, close: () => {}, onData: () => {}, onClose: () => {} } satisfies Connection

describe("unnumbered transport", () => {
  it("dials the neighbour's link-local address with the interface as zone once it has advertised", async () => {
    const { neighbour, advertise } = fakeNeighbour()
    const dialled: Array<string> = []
    const dial = (address: string): Transport => ({ connect: (connected) => void (dialled.push(address), setTimeout(() => connected(connection), 0)) })
    const outcome: Array<string> = []
    unnumberedTransport(neighbour, 5_000, dial).connect(() => outcome.push("connected"), (reason) => outcome.push(reason))
    await settle()
    expect(dialled).toEqual([])
    advertise("fe80::1")
    await settle()
    expect(dialled).toEqual(["fe80::1%eth1"])
    expect(outcome).toEqual(["connected"])
  })

  it("fails the dial when no advertisement comes in time, and a cancel stops both steps", async () => {
    const { neighbour, advertise } = fakeNeighbour()
    const dialled: Array<string> = []
    let dialCancelled = false
    const dial = (address: string): Transport => ({
      connect: () => {
        dialled.push(address)
        return () => void (dialCancelled = true)
      },
    })
    const failures: Array<string> = []
    unnumberedTransport(neighbour, 30, dial).connect(() => failures.push("connected?"), (reason) => failures.push(reason))
    await new Promise((resolve) => setTimeout(resolve, 80))
    expect(failures).toEqual(["no Router Advertisement on interface eth1 within 30 ms"])
    // Cancelled while waiting for the neighbour: nothing is dialled, nothing reported.
    const quiet: Array<string> = []
    const cancelWaiting = unnumberedTransport(neighbour, 5_000, dial).connect(() => quiet.push("connected"), (r) => quiet.push(r))
    cancelWaiting?.()
    advertise("fe80::2")
    await settle()
    expect(dialled).toEqual([])
    expect(quiet).toEqual([])
    // Cancelled while dialling: the dial is cancelled.
    const cancelDialling = unnumberedTransport(neighbour, 5_000, dial).connect(() => {}, () => {})
    await settle()
    expect(dialled).toEqual(["fe80::2%eth1"])
    cancelDialling?.()
    expect(dialCancelled).toBe(true)
  })
})

describe("unnumbered BFD link", () => {
  const fakeEndpoint = () => {
    const opened: Array<{ address: string; sent: Array<Uint8Array>; closed: boolean; deliver: (bytes: Uint8Array) => void }> = []
    const open = async (address: string): Promise<BfdLink> => {
      const listeners: Array<(bytes: Uint8Array, ttl: number | undefined) => void> = []
      const link = { address, sent: [] as Array<Uint8Array>, closed: false, deliver: (bytes: Uint8Array) => listeners.forEach((l) => l(bytes, 255)) }
      opened.push(link)
      return {
        localPort: 49152 + opened.length,
        send: (bytes) => void link.sent.push(bytes),
        onReceive: (listener) => void listeners.push(listener),
        close: async () => void (link.closed = true),
      }
    }
    return { opened, open }
  }

  it("drops packets until the neighbour is known, then sends to it and delivers what it answers", async () => {
    const { neighbour, advertise } = fakeNeighbour()
    const { opened, open } = fakeEndpoint()
    const link = neighbourBfdLink(neighbour, open)
    const received: Array<number> = []
    link.onReceive((bytes) => received.push(bytes[0] ?? -1))
    link.send(Uint8Array.of(1))
    await settle()
    expect(opened).toEqual([])
    expect(link.localPort).toBe(0)
    advertise("fe80::1")
    link.send(Uint8Array.of(2))
    await settle()
    expect(opened.map((o) => [o.address, o.sent.map((b) => b[0])])).toEqual([["fe80::1%eth1", [2]]])
    expect(link.localPort).toBe(49153)
    opened[0]?.deliver(Uint8Array.of(9))
    expect(received).toEqual([9])
  })

  it("moves to a new neighbour's address (the old link closed) and closes what it opened", async () => {
    const { neighbour, advertise } = fakeNeighbour()
    const { opened, open } = fakeEndpoint()
    const link = neighbourBfdLink(neighbour, open)
    advertise("fe80::1")
    link.send(Uint8Array.of(1))
    await settle()
    advertise("fe80::2")
    link.send(Uint8Array.of(2))
    await settle()
    expect(opened.map((o) => [o.address, o.closed])).toEqual([["fe80::1%eth1", true], ["fe80::2%eth1", false]])
    await link.close()
    expect(opened[1]?.closed).toBe(true)
    link.send(Uint8Array.of(3))
    await settle()
    expect(opened[1]?.sent.map((b) => b[0])).toEqual([2])
  })
})
