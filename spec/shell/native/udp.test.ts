// The addon's UDP for BFD against real kernels in network namespaces: datagrams round-trip with the
// received TTL reported (255 when sent with 255, the kernel's 64 otherwise), for IPv4 and IPv6, with the
// destination address and arrival interface, from a source port in RFC 5881's range. Argument checks
// and loopback round trips run without root.
import { Effect, type Scope, Stream } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { bfdSourcePorts, type Datagram, openUdp, UdpAddon, type UdpError, type UdpOpenOptions, type UdpSocket } from "../../../shell/native/udp.ts"
import { eventually, Lab, rootSkipReason } from "../../support/netns.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { ensureAddonBuilt } from "./build-addon.ts"

const runScoped = <A, E>(effect: Effect.Effect<A, E, UdpAddon | Scope.Scope>): Promise<A> =>
  effect.pipe(Effect.scoped, Effect.provide(UdpAddon.layer), Effect.runPromise)

/** Collects what `socket` receives into an array, from a fiber that lives as long as the scope. */
const collect = (socket: UdpSocket) =>
  Effect.gen(function* () {
    const received: Array<Datagram> = []
    yield* socket.datagrams.pipe(
      Stream.runForEach((datagram) => Effect.sync(() => received.push(datagram))),
      Effect.forkScoped,
    )
    yield* Effect.promise(() =>
      eventually("the datagram stream to start reading", async () => ((await Effect.runPromise(socket.stats)).reading ? true : undefined), {
        timeoutMs: 5_000,
        intervalMs: 10,
      }),
    )
    return received
  })

const until = <A>(what: string, probe: () => A | undefined) =>
  Effect.promise(() => eventually(what, async () => probe(), { timeoutMs: 5_000, intervalMs: 20 }))

const text = (datagram: Datagram | undefined) => (datagram === undefined ? undefined : new TextDecoder().decode(datagram.data))

const skipReason = rootSkipReason()

describe.skipIf(skipUnlessCi(skipReason))(`UDP addon in network namespaces${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  beforeAll(() => {
    ensureAddonBuilt()
  }, 300_000)

  for (const f of [
    { family: "IPv4", a: "192.0.2.1", b: "192.0.2.2", aCidr: "192.0.2.1/24", bCidr: "192.0.2.2/24" },
    { family: "IPv6", a: "2001:db8::1", b: "2001:db8::2", aCidr: "2001:db8::1/64", bCidr: "2001:db8::2/64" },
  ]) {
    it(`${f.family}: datagrams round-trip with the received TTL reported (255 when sent with 255, 64 otherwise)`, async () => {
      await using lab = await Lab.create(`udp${f.family}`)
      const a = await lab.host("a")
      const b = await lab.host("b")
      const { bName } = await lab.link(a, b, { aAddresses: [f.aCidr], bAddresses: [f.bCidr] })
      const { stdout } = await b.run("ip", ["-j", "link", "show", bName])
      const bIndex = (JSON.parse(stdout) as Array<{ ifindex: number }>)[0]?.ifindex

      const result = await runScoped(
        Effect.gen(function* () {
          // b is the BFD listener on 3784; a sends with TTL 255 from a source port in 49152-65535.
          const listener = yield* openUdp({ address: f.b, port: 3784, receiveTtl: true, netnsPath: b.netnsPath })
          const bfd = yield* openUdp({ address: f.a, port: bfdSourcePorts, ttl: 255, receiveTtl: true, netnsPath: a.netnsPath })
          const plain = yield* openUdp({ address: f.a, port: 0, netnsPath: a.netnsPath })
          const atListener = yield* collect(listener)
          const atBfd = yield* collect(bfd)
          const atPlain = yield* collect(plain)

          yield* bfd.send(new TextEncoder().encode("from bfd"), f.b, 3784)
          yield* plain.send(new TextEncoder().encode("from plain"), f.b, 3784)
          yield* until("both datagrams at the listener", () => (atListener.length >= 2 ? true : undefined))
          // Answers go back to each sender's port; the listener itself sends with the kernel's TTL.
          for (const datagram of atListener) yield* listener.send(datagram.data, datagram.address, datagram.port)
          yield* until("the answers", () => (atBfd.length >= 1 && atPlain.length >= 1 ? true : undefined))
          return {
            atListener: [...atListener],
            atBfd: [...atBfd],
            atPlain: [...atPlain],
            bfdPort: bfd.localPort,
            plainPort: plain.localPort,
            listener: { address: listener.localAddress, port: listener.localPort },
            stats: yield* listener.stats,
          }
        }),
      )

      expect(result.listener).toEqual({ address: f.b, port: 3784 })
      expect(result.bfdPort).toBeGreaterThanOrEqual(49152)
      expect(result.bfdPort).toBeLessThanOrEqual(65535)
      const fromBfd = result.atListener.find((d) => text(d) === "from bfd")
      const fromPlain = result.atListener.find((d) => text(d) === "from plain")
      expect(fromBfd).toMatchObject({ address: f.a, port: result.bfdPort, ttl: 255, destination: f.b, interfaceIndex: bIndex })
      expect(fromPlain).toMatchObject({ address: f.a, port: result.plainPort, ttl: 64, destination: f.b })
      expect(text(result.atBfd[0])).toBe("from bfd")
      expect(result.atBfd[0]).toMatchObject({ address: f.b, port: 3784, ttl: 64 })
      // A socket opened without receiveTtl does not report one.
      expect(text(result.atPlain[0])).toBe("from plain")
      expect(result.atPlain[0]?.ttl).toBeUndefined()
      expect(result.stats).toMatchObject({ received: 2, sent: 2, errors: 0, dropped: 0, open: true })
    })
  }

  it("binds to one interface and reports a missing one or namespace as typed errors", async () => {
    await using lab = await Lab.create("udpdev")
    const a = await lab.host("a")
    const b = await lab.host("b")
    const { aName } = await lab.link(a, b, { aAddresses: ["192.0.2.1/24"], bAddresses: ["192.0.2.2/24"] })
    const result = await runScoped(
      Effect.gen(function* () {
        const bound = yield* openUdp({ address: "0.0.0.0", port: 3784, interfaceName: aName, netnsPath: a.netnsPath })
        return {
          bound: { address: bound.localAddress, port: bound.localPort },
          noDevice: yield* Effect.flip(openUdp({ address: "0.0.0.0", port: 3785, interfaceName: "mlbt-none0", netnsPath: a.netnsPath })),
          noNamespace: yield* Effect.flip(openUdp({ address: "0.0.0.0", port: 3784, netnsPath: `${a.netnsPath}-absent` })),
          taken: yield* Effect.flip(openUdp({ address: "0.0.0.0", port: 3784, interfaceName: aName, netnsPath: a.netnsPath })),
        }
      }),
    )
    expect(result.bound).toEqual({ address: "0.0.0.0", port: 3784 })
    expect(result.noDevice).toMatchObject({ _tag: "UdpError", operation: "open", code: "ENODEV", syscall: "setsockopt(SO_BINDTODEVICE)" })
    expect(result.noNamespace).toMatchObject({ code: "ENOENT", syscall: "open" })
    expect(result.taken).toMatchObject({ code: "EADDRINUSE", syscall: "bind" })
  })
})

describe("UDP addon without root", () => {
  beforeAll(() => {
    ensureAddonBuilt()
  }, 300_000)

  it("round-trips on loopback with TTL 255 reported, for IPv4 and IPv6", async () => {
    const ttls = await runScoped(
      Effect.forEach(["127.0.0.1", "::1"], (address) =>
        Effect.gen(function* () {
          const receiver = yield* openUdp({ address, port: 0, receiveTtl: true })
          const sender = yield* openUdp({ address, port: 0, ttl: 255 })
          const received = yield* collect(receiver)
          yield* sender.send(new Uint8Array([1, 2, 3]), address, receiver.localPort)
          const datagram = yield* until("the datagram", () => received[0])
          return { address: datagram.address, port: datagram.port === sender.localPort, ttl: datagram.ttl, data: [...datagram.data] }
        }),
      ),
    )
    expect(ttls).toEqual([
      { address: "127.0.0.1", port: true, ttl: 255, data: [1, 2, 3] },
      { address: "::1", port: true, ttl: 255, data: [1, 2, 3] },
    ])
  })

  it("rejects bad options and sends as typed errors", async () => {
    const openError = (options: Partial<UdpOpenOptions>) =>
      runScoped(Effect.flip(openUdp({ address: "127.0.0.1", port: 0, ...options } as UdpOpenOptions)))
    expect(await openError({ address: "localhost" })).toMatchObject({ _tag: "UdpError", operation: "open", code: "ERR_INVALID_IP_ADDRESS" })
    expect(await openError({ port: 70000 })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await openError({ port: { min: 60000, max: 50000 } })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await openError({ ttl: 0 })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await openError({ receiveTtl: 1 as unknown as boolean })).toMatchObject({ code: "ERR_INVALID_ARG_TYPE" })
    expect(await openError({ interfaceName: "x".repeat(16) })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })

    const sendErrors = await runScoped(
      Effect.gen(function* () {
        const socket = yield* openUdp({ address: "127.0.0.1", port: 0 })
        const closed = yield* Effect.scoped(openUdp({ address: "127.0.0.1", port: 0 }))
        return {
          badAddress: yield* Effect.flip(socket.send(new Uint8Array(1), "nowhere", 3784)),
          badPort: yield* Effect.flip(socket.send(new Uint8Array(1), "127.0.0.1", 0)),
          notBytes: yield* Effect.flip(socket.send("text" as unknown as Uint8Array, "127.0.0.1", 3784)),
          wrongFamily: yield* Effect.flip(socket.send(new Uint8Array(1), "::1", 3784)),
          afterClose: yield* Effect.flip(closed.send(new Uint8Array(1), "127.0.0.1", 3784)),
          closedStats: yield* closed.stats,
        }
      }),
    )
    expect(sendErrors.badAddress).toMatchObject({ _tag: "UdpError", operation: "send", code: "ERR_INVALID_IP_ADDRESS" })
    expect(sendErrors.badPort).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(sendErrors.notBytes).toMatchObject({ code: "ERR_INVALID_ARG_TYPE" })
    expect(sendErrors.wrongFamily).toMatchObject({ code: "EAFNOSUPPORT", address: "::1" })
    expect(sendErrors.afterClose).toMatchObject({ code: "EBADF" })
    expect(sendErrors.closedStats).toMatchObject({ open: false, reading: false })
  })

  it("picks a free source port from a range, retrying ports in use", async () => {
    const ports = await runScoped(
      Effect.gen(function* () {
        // A two-port range with one port taken: whichever is drawn first, the socket ends on the free one.
        // The neighbour of a kernel-chosen port is checked free first (something else may hold it).
        const takenWithFreeNeighbour = (attemptsLeft: number): Effect.Effect<UdpSocket, UdpError, UdpAddon | Scope.Scope> =>
          Effect.gen(function* () {
            const taken = yield* openUdp({ address: "127.0.0.1", port: 0 })
            const neighbourFree = yield* Effect.scoped(openUdp({ address: "127.0.0.1", port: taken.localPort + 1 })).pipe(
              Effect.as(true),
              Effect.catch(() => Effect.succeed(attemptsLeft <= 1)),
            )
            return neighbourFree ? taken : yield* takenWithFreeNeighbour(attemptsLeft - 1)
          })
        const taken = yield* takenWithFreeNeighbour(10)
        const range = { min: taken.localPort, max: taken.localPort + 1 }
        const picked = yield* openUdp({ address: "127.0.0.1", port: range, portAttempts: 64 })
        return { taken: taken.localPort, picked: picked.localPort }
      }),
    )
    expect(ports.picked).toBe(ports.taken + 1)
  })
})
