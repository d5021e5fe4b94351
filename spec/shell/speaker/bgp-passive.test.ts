// The speaker's passive side against FRR in network namespaces (FRR listens on 179 and dials too): a
// session whose own dial never completes still comes up because FRR connected to our listener (IPv4
// and IPv6, each family on its own listener); when both ends dial at once (our dial is made while
// FRR's connection is held, so both TCP connections exist before either OPEN is read) collision
// resolution leaves exactly one Established session over one TCP connection; a connection from an
// address no peer has is closed, counted, and logged once; a family whose port is taken is only dialled.
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { testFibers } from "../../support/fibers.ts"
import type { TcpAddonApi } from "../../../shell/native/tcp.ts"
import { connectTcp, listenTcp, TcpAddon } from "../../../shell/native/tcp.ts"
import type { Connection, Transport } from "../../../shell/speaker/bgp-peer.ts"
import { type BgpListeners, openBgpListeners } from "../../../shell/speaker/bgp-listeners.ts"
import { type BgpListener, tcpAddon, tcpTransport } from "../../../shell/speaker/bgp-transport.ts"
import type { CallbackLog } from "../../../shell/speaker/callback-log.ts"
import { PeerSession } from "../../../shell/speaker/peer-session.ts"
import { eventually, type Host, rootSkipReason } from "../../support/netns.ts"
import { startFrr, waitEstablished, waitForRoute } from "../../support/routers/index.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { ensureAddonBuilt } from "../native/build-addon.ts"
import { address, peer, route, routerV4, routerV6, speakerAndRouter, speakerV4, speakerV6, testBackoff, waitSessionState } from "./interop-support.ts"

/** A dial that never completes (as if the SYN were lost each time): only the peer's connection can bring the session up. */
const blockedDial = (dials: { count: number }): Transport => ({
  connect: () => {
    dials.count += 1
    return () => {}
  },
})

const recordingLog = () => {
  const lines: Array<string> = []
  const log: CallbackLog = (level, message) => lines.push(`${level}: ${message}`)
  return { lines, log }
}

/** Established TCP connections on port 179 in a namespace. */
const bgpConnections = async (host: Host): Promise<Array<string>> =>
  (await host.run("ss", ["-Htn", "state", "established", "( sport = :179 or dport = :179 )"])).stdout.split("\n").filter((line) => line.trim() !== "")

const skipReason = rootSkipReason()

// The drivers' fibers and sockets belong to this scope, as they belong to the speaker's.
const fibers = testFibers()
afterAll(() => fibers.shutdown())

describe.skipIf(skipUnlessCi(skipReason))(`BGP passive side against FRR${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let tcp: TcpAddonApi
  beforeAll(async () => {
    ensureAddonBuilt()
    tcp = await Effect.runPromise(tcpAddon)
  }, 300_000)

  for (const f of [
    { family: "ipv4", speaker: speakerV4, router: routerV4, prefix: "198.51.100.30/32" },
    { family: "ipv6", speaker: speakerV6, router: routerV6, prefix: "2001:db8:30::/64" },
  ] as const) {
    it(`${f.family}: our dial never completes, FRR connects to our listener on 179 and the session comes up with routes`, async () => {
      const { lab, node, router } = await speakerAndRouter(`passive${f.family === "ipv4" ? 4 : 6}`)
      await using _ = lab
      const { lines, log } = recordingLog()
      const listeners = await openBgpListeners(tcp, { fibers, log, netnsPath: node.netnsPath })
      await using frr = await startFrr(router, {
        routerId: routerV4,
        asn: 64501,
        neighbors: [{ address: f.speaker, asn: 64500, password: "passive-md5" }],
      })
      const dials = { count: 0 }
      const listener = await listeners.forPeer(f.family, "")
      const session = await PeerSession.open({
        fibers,
        peer: peer({ name: "frr", address: f.router, myAsn: 64500, peerAsn: 64501, password: "passive-md5" }),
        tcp,
        netnsPath: node.netnsPath,
        routerId: address(speakerV4),
        backoff: testBackoff,
        transport: blockedDial(dials),
        ...(listener === undefined ? {} : { listener }),
      })
      try {
        expect(listener, lines.join("\n")).toBeDefined()
        session.setRoutes([route(f.prefix)])
        session.start()
        await waitSessionState(session, "Established")
        await waitEstablished(frr, f.speaker)
        expect(await waitForRoute(frr, f.prefix, { neighbor: f.speaker })).toMatchObject({ asPath: [64500] })
        // We did try to dial; the only connection is the one FRR opened to our port 179.
        expect(dials.count).toBeGreaterThan(0)
        const connections = await bgpConnections(node)
        expect(connections).toHaveLength(1)
        expect(connections[0]).toMatch(new RegExp(`${f.family === "ipv4" ? f.speaker : `\\[${f.speaker}\\]`}:179\\s`))
        expect(listeners.refused()).toBe(0)
        expect(lines).toEqual([])
      } finally {
        await session.stop()
        await listeners.close()
      }
    })
  }

  it("both ends dial at once: collision resolution (RFC 4271 §6.8) leaves one Established session on one TCP connection", async () => {
    const { lab, node, router } = await speakerAndRouter("collide")
    await using _ = lab
    const { lines, log } = recordingLog()
    const listeners = await openBgpListeners(tcp, { fibers, log, netnsPath: node.netnsPath })
    const ipv4 = await listeners.forPeer("ipv4", "")
    if (ipv4 === undefined) throw new Error(`no IPv4 listener: ${lines.join("\n")}`)
    // FRR's connection is held back from the session until our own dial has connected, so both TCP
    // connections exist (on both ends) before either OPEN is read: a collision, not a race one side wins early.
    let held: { readonly connection: Connection; readonly accept: (connection: Connection) => void } | undefined
    let releaseHeld: (() => void) | undefined
    const heldArrived = Promise.withResolvers<void>()
    const counts = { incoming: 0, dialled: 0 }
    const holdingListener: BgpListener = {
      ...ipv4,
      addPeer: (listened) =>
        ipv4.addPeer({
          ...listened,
          accept: (connection) => {
            counts.incoming += 1
            if (held !== undefined) return listened.accept(connection)
            held = { connection, accept: listened.accept }
            releaseHeld = () => {
              releaseHeld = undefined
              listened.accept(connection)
            }
            heldArrived.resolve()
          },
        }),
    }
    const real = tcpTransport(tcp, { fibers, peerAddress: routerV4, peerPort: 179, ttl: 1, connectTimeoutMs: 2_000, netnsPath: node.netnsPath })
    const transport: Transport = {
      connect: (connected, failed) => {
        let cancelled = false
        let cancelDial: (() => void) | void
        void heldArrived.promise.then(() => {
          if (cancelled) return
          cancelDial = real.connect((connection) => {
            counts.dialled += 1
            releaseHeld?.()
            connected(connection)
          }, failed)
        })
        return () => {
          cancelled = true
          cancelDial?.()
        }
      },
    }
    await using frr = await startFrr(router, { routerId: routerV4, asn: 64501, neighbors: [{ address: speakerV4, asn: 64500 }] })
    const session = await PeerSession.open({
      fibers,
      peer: peer({ name: "frr", address: routerV4, myAsn: 64500, peerAsn: 64501 }),
      tcp,
      netnsPath: node.netnsPath,
      routerId: address(speakerV4),
      backoff: testBackoff,
      transport,
      listener: holdingListener,
    })
    try {
      session.setRoutes([route("198.51.100.31/32")])
      session.start()
      await waitSessionState(session, "Established")
      await waitEstablished(frr, speakerV4)
      expect(await waitForRoute(frr, "198.51.100.31/32", { neighbor: speakerV4 })).toMatchObject({ asPath: [64500] })
      // Both connections were made: FRR's to us and ours to FRR.
      expect(counts.incoming).toBeGreaterThanOrEqual(1)
      expect(counts.dialled).toBeGreaterThanOrEqual(1)
      expect(held).toBeDefined()
      // We sent an OPEN on each of the two connections: both reached the OPEN exchange, so one was resolved
      // away. FRR's OPEN on the losing connection may or may not be read before the resolution closes it
      // (RFC 4271 §6.8 resolves on the first OPEN that reveals the collision): one or two arrive.
      expect(session.bgp.messagesSent.Open).toBe(2)
      expect(session.bgp.messagesReceived.Open).toBeGreaterThanOrEqual(1)
      expect(session.bgp.messagesReceived.Open).toBeLessThanOrEqual(2)
      // Settled: one TCP connection left. Which one depends on timing, and both outcomes are RFC 4271
      // §6.8: when an end reads the second OPEN while the first connection is in OpenConfirm, the
      // identifiers decide and ours (192.0.2.10, the higher) survives; when the first connection already
      // reached Established (its KEEPALIVE came before the other OPEN), the newer connection is closed,
      // and that can be ours. The identifier rule itself is core's (spec/core/bgp).
      const connections = await eventually("one BGP connection", async () => {
        const now = await bgpConnections(node)
        return now.length === 1 ? now : undefined
      }, { timeoutMs: 10_000, intervalMs: 100 })
      const ours = new RegExp(`${speakerV4}:\\d+\\s+${routerV4}:179(\\s|$)`)
      const frrs = new RegExp(`${speakerV4}:179\\s+${routerV4}:\\d+`)
      expect(ours.test(connections[0] ?? "") || frrs.test(connections[0] ?? ""), connections[0]).toBe(true)
      // The loser was closed with a NOTIFICATION (Cease / Connection Collision Resolution), by us or by FRR.
      expect(session.bgp.messagesSent.Notification + session.bgp.messagesReceived.Notification).toBeGreaterThanOrEqual(1)
      // And it stays that way: still Established, still one connection, a keepalive interval later.
      await new Promise((resolve) => setTimeout(resolve, 3_000))
      expect(session.state).toBe("Established")
      expect(await bgpConnections(node)).toHaveLength(1)
    } finally {
      await session.stop()
      await listeners.close()
    }
  })

  it("a family whose port 179 is taken is not listened on: one warning, and its peers are only dialled", async () => {
    const { lab, node } = await speakerAndRouter("taken")
    await using _ = lab
    const { lines, log } = recordingLog()
    const outcome = await Effect.runPromise(
      Effect.gen(function* () {
        // Someone else (another BGP daemon on the node) holds 0.0.0.0:179.
        yield* listenTcp({ address: "0.0.0.0", port: 179, netnsPath: node.netnsPath })
        const listeners = yield* Effect.promise(() => openBgpListeners(tcp, { fibers, log, netnsPath: node.netnsPath }))
        const found = { ipv4: yield* Effect.promise(() => listeners.forPeer("ipv4", "")), ipv6: yield* Effect.promise(() => listeners.forPeer("ipv6", "")) }
        yield* Effect.promise(() => listeners.close())
        return { ipv4: found.ipv4 === undefined, ipv6: found.ipv6 === undefined }
      }).pipe(Effect.scoped, Effect.provide(TcpAddon.layer)),
    )
    expect(outcome).toEqual({ ipv4: true, ipv6: false })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^warning: bgp: not listening on \[0\.0\.0\.0\]:179 \(.*EADDRINUSE.*\); such peers are only dialled, a peer that connects to this node is refused$/)
  })

  it("a connection from an address no peer has is closed, counted and logged once", async () => {
    const { lab, node, router } = await speakerAndRouter("refuse")
    await using _ = lab
    const { lines, log } = recordingLog()
    const listeners: BgpListeners = await openBgpListeners(tcp, { fibers, log, netnsPath: node.netnsPath })
    try {
      const closedByListener = () =>
        Effect.runPromise(
          Effect.gen(function* () {
            const socket = yield* connectTcp({ peerAddress: speakerV4, peerPort: 179, netnsPath: router.netnsPath, timeoutMs: 3_000 })
            // The listener closes it: a reset may come first as 'error'.
            socket.on("error", () => {})
            yield* Effect.promise(() => new Promise<void>((resolve) => socket.once("close", () => resolve())))
            return true
          }).pipe(Effect.scoped, Effect.provide(TcpAddon.layer)),
        )
      expect(await closedByListener()).toBe(true)
      expect(await closedByListener()).toBe(true)
      await eventually("two refusals counted", async () => (listeners.refused() === 2 ? true : undefined), { timeoutMs: 3_000, intervalMs: 20 })
      expect(lines).toEqual([`warning: bgp: refused a connection from ${routerV4} to port 179: no BGPPeer of this node has that address (logged once per address)`])
    } finally {
      await listeners.close()
    }
  })
})
