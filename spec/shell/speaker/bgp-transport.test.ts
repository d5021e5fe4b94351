// The BGP TCP transport and listener on loopback (no root needed): two BgpPeer drivers establish over
// real sockets with TCP-MD5, the dialled side reporting its local address (our next hop), the
// listener routes an accepted connection to the session configured for its source address and closes
// one from an unknown address; a refused dial is reported as a failure with the errno.
// A dial the session gives up on is cancelled: neither callback runs.
import { connect } from "node:net"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { testFibers } from "../../support/fibers.ts"
import type { SessionConfig } from "../../../core/bgp/session.ts"
import type { TcpAddonApi } from "../../../shell/native/tcp.ts"
import { BgpPeer, type Connection } from "../../../shell/speaker/bgp-peer.ts"
import { bgpTtl } from "../../../core/speaker/session-config.ts"
import { listenBgp, tcpAddon, tcpTransport, unmapped } from "../../../shell/speaker/bgp-transport.ts"
import { eventually } from "../../support/netns.ts"
import { ensureAddonBuilt } from "../native/build-addon.ts"

const config = (localAsn: number, peerAsn: number, passive: boolean, id: number): SessionConfig => ({
  localAsn,
  peerAsn,
  localBgpIdentifier: id,
  holdTimeSeconds: 9,
  keepaliveTimeSeconds: 0,
  connectRetryTimeSeconds: 2,
  families: ["ipv4"],
  gracefulRestart: { enabled: false, restartTimeSeconds: 120, restarting: false, forwardingPreserved: false },
  passive,
  backoff: { initialDelayMs: 100, maxDelayMs: 1000 },
})

const never = { connect: (_: unknown, failed: (reason: string) => void) => queueMicrotask(() => failed("passive")) }

// The drivers' fibers and sockets belong to this scope, as they belong to the speaker's.
const fibers = testFibers()
afterAll(() => fibers.shutdown())

describe("BGP TCP transport on loopback", () => {
  let tcp: TcpAddonApi
  beforeAll(async () => {
    ensureAddonBuilt()
    tcp = await Effect.runPromise(tcpAddon)
  }, 300_000)

  it("chooses the TTL as FRR: 1 for single-hop eBGP, 255 for iBGP and multihop; unmaps IPv4-mapped addresses", () => {
    expect(bgpTtl(true, false)).toBe(1)
    expect(bgpTtl(true, true)).toBe(255)
    expect(bgpTtl(false, false)).toBe(255)
    expect(unmapped("::ffff:192.0.2.1")).toBe("192.0.2.1")
    expect(unmapped("2001:db8::1")).toBe("2001:db8::1")
  })

  it("an MD5 session between a dialling BgpPeer and one behind listenBgp reaches Established", async () => {
    const listener = await listenBgp(tcp, { fibers, address: "127.0.0.1", port: 0 })
    const router = new BgpPeer({ name: "router", session: config(64501, 64500, true, 2), transport: never })
    await listener.addPeer({ address: "127.0.0.1", accept: (c) => router.accept(c), md5Key: "loop-key", ttl: 255 })
    const dialled: Array<Connection> = []
    const transport = tcpTransport(tcp, { fibers, peerAddress: "127.0.0.1", peerPort: listener.port, md5Key: "loop-key", ttl: 1, connectTimeoutMs: 2_000 })
    const speaker = new BgpPeer({
      name: "speaker",
      session: config(64500, 64501, false, 1),
      transport: { connect: (connected, failed) => transport.connect((c) => { dialled.push(c); connected(c) }, failed) },
    })
    try {
      router.start()
      speaker.start()
      await eventually("both Established", async () => (speaker.state === "Established" && router.state === "Established") || undefined, { timeoutMs: 10_000, intervalMs: 20 })
      expect(dialled[0]?.localAddress).toBe("127.0.0.1")
      expect(speaker.negotiated).toMatchObject({ peerAsn: 64501, holdTimeSeconds: 9 })
      speaker.stop()
      await eventually("the router sees the Cease", async () => router.state !== "Established" || undefined, { timeoutMs: 5_000, intervalMs: 20 })
    } finally {
      speaker.stop()
      router.stop()
      await listener.close()
    }
  })

  it("closes connections from addresses no session is configured for, and reports a refused dial", async () => {
    const listener = await listenBgp(tcp, { fibers, address: "127.0.0.1", port: 0 })
    try {
      const outcome = await new Promise<string>((resolve) => {
        tcpTransport(tcp, { fibers, peerAddress: "127.0.0.1", peerPort: listener.port, sourceAddress: "127.0.0.2", ttl: 255, connectTimeoutMs: 2_000 }).connect(
          (connection) => connection.onClose(() => resolve("closed by the listener")),
          (reason) => resolve(`failed: ${reason}`),
        )
      })
      expect(outcome).toBe("closed by the listener")
      expect(listener.refused()).toBe(1)
    } finally {
      await listener.close()
    }
    const refused = await new Promise<string>((resolve) => {
      tcpTransport(tcp, { fibers, peerAddress: "127.0.0.1", peerPort: listener.port, ttl: 255, connectTimeoutMs: 2_000 }).connect(
        (connection) => { connection.close(); resolve("connected") },
        resolve,
      )
    })
    expect(refused).toMatch(/^ECONNREFUSED: /)
  })

  it("a cancelled dial reports nothing, and leaves the peer free for the next one", async () => {
    const listener = await listenBgp(tcp, { fibers, address: "127.0.0.1", port: 0 })
    try {
      // The listener's kernel drops SYNs without the session's MD5 signature: this dial hangs.
      await listener.addPeer({ address: "127.0.0.1", accept: (c) => c.close(), md5Key: "k", ttl: 255 })
      const heard: Array<string> = []
      const cancel = tcpTransport(tcp, { fibers, peerAddress: "127.0.0.1", peerPort: listener.port, ttl: 255, connectTimeoutMs: 10_000 }).connect(
        () => heard.push("connected"),
        (reason) => heard.push(`failed: ${reason}`),
      )
      await new Promise((r) => setTimeout(r, 300))
      expect(typeof cancel).toBe("function")
      cancel?.()
      await new Promise((r) => setTimeout(r, 500))
      expect(heard).toEqual([])
      // A dial that signs its SYN gets through.
      const outcome = await new Promise<string>((resolve) => {
        tcpTransport(tcp, { fibers, peerAddress: "127.0.0.1", peerPort: listener.port, md5Key: "k", ttl: 255, connectTimeoutMs: 5_000 }).connect(
          (connection) => connection.onClose(() => resolve("accepted")),
          (reason) => resolve(`failed: ${reason}`),
        )
      })
      expect(outcome).toBe("accepted")
    } finally {
      await listener.close()
    }
  })

  it("closing the owner's scope (SIGTERM) ends a hanging dial silently, closes dialled connections and the listener", async () => {
    const owner = testFibers()
    const listener = await listenBgp(tcp, { fibers: owner, address: "127.0.0.1", port: 0 })
    const accepted: Array<Connection> = []
    await listener.addPeer({ address: "127.0.0.1", accept: (c) => accepted.push(c), md5Key: "k", ttl: 255 })
    const heard: Array<string> = []
    // Unsigned: its SYNs are dropped, so it hangs until the scope closes.
    tcpTransport(tcp, { fibers: owner, peerAddress: "127.0.0.1", peerPort: listener.port, ttl: 255, connectTimeoutMs: 10_000 }).connect(
      () => heard.push("hanging dial connected"),
      (reason) => heard.push(`hanging dial failed: ${reason}`),
    )
    const connection = await new Promise<Connection>((resolve, reject) => {
      tcpTransport(tcp, { fibers: owner, peerAddress: "127.0.0.1", peerPort: listener.port, md5Key: "k", ttl: 255, connectTimeoutMs: 5_000 }).connect(resolve, (reason) => reject(new Error(reason)))
    })
    connection.onClose(() => heard.push("connection closed"))
    await eventually("the listener routed the connection", async () => accepted.length === 1 || undefined, { timeoutMs: 5_000, intervalMs: 20 })
    await owner.shutdown()
    await eventually("the dialled connection closed", async () => heard.includes("connection closed") || undefined, { timeoutMs: 5_000, intervalMs: 20 })
    const refused = await new Promise<string>((resolve) => {
      const probe = connect({ host: "127.0.0.1", port: listener.port }, () => {
        probe.destroy()
        resolve("connected")
      })
      probe.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    })
    expect(refused).toBe("ECONNREFUSED")
    await new Promise((r) => setTimeout(r, 200))
    expect(heard).toEqual(["connection closed"])
  })
})
