// The addon's TCP for BGP against real kernels in network namespaces: TCP-MD5 between our own connect
// and listen and against FRR's bgpd, TTL (multihop) and GTSM (minimum TTL), options on Node sockets,
// connect errors and cancellation. Argument checks run without root.
import { spawn } from "node:child_process"
import { closeSync, openSync } from "node:fs"
import type net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Fiber, Option, Scope, Stream } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import {
  connectTcp,
  listenTcp,
  setSocketMinTtl,
  setSocketTtl,
  TcpAddon,
  type TcpAddonApi,
  type TcpConnectOptions,
} from "../../../shell/native/tcp.ts"
import { eventually, type Host, Lab, rootSkipReason } from "../../support/netns.ts"
import { startFrr } from "../../support/routers/index.ts"
import { skipUnlessCi } from "../../support/skip.ts"
import { defaultAddonPath } from "../../../shell/native/addon.ts"
import { ensureAddonBuilt } from "./build-addon.ts"

const runScoped = <A, E>(effect: Effect.Effect<A, E, TcpAddon | Scope.Scope>): Promise<A> =>
  effect.pipe(Effect.scoped, Effect.provide(TcpAddon.layer), Effect.runPromise)

const addonService = Effect.gen(function* () {
  return yield* TcpAddon
})

const rawAddon = (): Promise<TcpAddonApi> => Effect.runPromise(Effect.provide(addonService, TcpAddon.layer))

/** What `socket` receives within `timeoutMs`, returning early once `count` bytes have arrived. */
const receive = (socket: net.Socket, count: number, timeoutMs: number): Effect.Effect<Buffer> =>
  Effect.promise(
    () =>
      new Promise<Buffer>((resolve) => {
        const chunks: Array<Buffer> = []
        let total = 0
        const done = () => {
          clearTimeout(timer)
          socket.off("data", onData)
          resolve(Buffer.concat(chunks))
        }
        const onData = (chunk: Buffer) => {
          chunks.push(chunk)
          total += chunk.length
          if (total >= count) done()
        }
        const timer = setTimeout(done, timeoutMs)
        socket.on("data", onData)
      }),
  )

/** Writes both ways and returns what each side read. */
const exchange = (client: net.Socket, server: net.Socket) =>
  Effect.gen(function* () {
    client.write("ping")
    const atServer = yield* receive(server, 4, 3_000)
    server.write("pong")
    const atClient = yield* receive(client, 4, 3_000)
    return { atServer: atServer.toString(), atClient: atClient.toString() }
  })

/** Kernel TCP-MD5 counters of a namespace (absolute, history untouched). */
const md5Counters = async (host: Host): Promise<Record<string, number>> => {
  const names = ["TcpExtTCPMD5NotFound", "TcpExtTCPMD5Unexpected", "TcpExtTCPMD5Failure"]
  const { stdout } = await host.run("nstat", ["-asz", ...names])
  return Object.fromEntries(names.map((name) => [name, Number(new RegExp(`^${name}\\s+(\\d+)`, "m").exec(stdout)?.[1] ?? NaN)]))
}

/**
 * A fresh Node process that does `startupWorkMs` of synchronous work (standing for a speaker's start)
 * and then, before its event loop has turned once, dials 127.0.0.1:`port` with a key the listener does
 * not have; it reports how long the dial took to fail, measured around the call.
 */
const firstDial = (options: { addonPath: string; port: number; timeoutMs: number; startupWorkMs: number }) =>
  new Promise<{ code: string; elapsedMs: number }>((resolve, reject) => {
    const script = `
      import { createRequire } from "node:module"
      const options = JSON.parse(process.env.MLBT_FIRST_DIAL)
      const addon = createRequire(options.addonPath)(options.addonPath)
      const busyUntil = performance.now() + options.startupWorkMs
      while (performance.now() < busyUntil) {}
      const startedMs = performance.now()
      addon.tcpConnect({ peerAddress: "127.0.0.1", peerPort: options.port, md5Key: "dialler", timeoutMs: options.timeoutMs }).then(
        () => console.log(JSON.stringify({ code: "CONNECTED", elapsedMs: performance.now() - startedMs })),
        (error) => console.log(JSON.stringify({ code: error.code, elapsedMs: performance.now() - startedMs })),
      )`
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, MLBT_FIRST_DIAL: JSON.stringify(options) },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("close", (status) => {
      if (status !== 0) reject(new Error(`the first-dial process exited with ${status}: ${stderr}`))
      else resolve(JSON.parse(stdout) as { code: string; elapsedMs: number })
    })
  })

const families = [
  { family: "IPv4", server: "192.0.2.1", client: "192.0.2.2", serverCidr: "192.0.2.1/24", clientCidr: "192.0.2.2/24" },
  { family: "IPv6", server: "2001:db8::1", client: "2001:db8::2", serverCidr: "2001:db8::1/64", clientCidr: "2001:db8::2/64" },
] as const

/** A server and a client host on one veth pair, with both address families. */
const twoHosts = async (label: string) => {
  const lab = await Lab.create(label)
  const server = await lab.host("server")
  const client = await lab.host("client")
  await lab.link(server, client, {
    aAddresses: [families[0].serverCidr, families[1].serverCidr],
    bAddresses: [families[0].clientCidr, families[1].clientCidr],
  })
  return { lab, server, client }
}

const skipReason = rootSkipReason()

describe.skipIf(skipUnlessCi(skipReason))(`TCP addon in network namespaces${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  beforeAll(() => {
    ensureAddonBuilt()
  }, 300_000)

  for (const f of families) {
    it(`${f.family}: an MD5 connection between tcpConnect and tcpListen exchanges bytes; the accepted socket inherits the key`, async () => {
      const { lab, server, client } = await twoHosts(`md5${f.family}`)
      await using _ = lab
      const key = "metallb-md5-key"

      const result = await runScoped(
        Effect.gen(function* () {
          const listener = yield* listenTcp({
            address: f.server,
            port: 179,
            md5Peers: [{ address: f.client, key }],
            netnsPath: server.netnsPath,
          })
          const socket = yield* connectTcp({ peerAddress: f.server, peerPort: 179, md5Key: key, netnsPath: client.netnsPath, timeoutMs: 5_000 })
          const serverSide = yield* listener.accept
          const bytes = yield* exchange(socket, serverSide)
          return {
            bytes,
            listener: { address: listener.address, port: listener.port },
            client: { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, localAddress: socket.localAddress },
            serverSide: { remoteAddress: serverSide.remoteAddress, localPort: serverSide.localPort },
          }
        }),
      )

      expect(result.listener).toEqual({ address: f.server, port: 179 })
      // The adopted fd behaves as a connected net.Socket: addresses known, data both ways.
      expect(result.client).toMatchObject({ remoteAddress: f.server, remotePort: 179, localAddress: f.client })
      expect(result.serverSide).toEqual({ remoteAddress: f.client, localPort: 179 })
      expect(result.bytes).toEqual({ atServer: "ping", atClient: "pong" })
      // Every segment was signed and verified: an accepted socket without the key would have dropped the
      // client's signed segments (MD5Unexpected) and the client its unsigned ones (MD5NotFound).
      expect(await md5Counters(server)).toEqual({ TcpExtTCPMD5NotFound: 0, TcpExtTCPMD5Unexpected: 0, TcpExtTCPMD5Failure: 0 })
      expect(await md5Counters(client)).toEqual({ TcpExtTCPMD5NotFound: 0, TcpExtTCPMD5Unexpected: 0, TcpExtTCPMD5Failure: 0 })
    })
  }

  it("MD5: a wrong key or no key does not connect (ETIMEDOUT) and the listener's kernel counts why", async () => {
    const { lab, server, client } = await twoHosts("md5wrong")
    await using _ = lab
    const connect = (md5Key: string | undefined) =>
      Effect.flip(
        connectTcp({
          peerAddress: "192.0.2.1",
          peerPort: 179,
          ...(md5Key === undefined ? {} : { md5Key }),
          netnsPath: client.netnsPath,
          timeoutMs: 1_500,
        }),
      )
    const { wrongKey, noKey } = await runScoped(
      Effect.gen(function* () {
        yield* listenTcp({ address: "192.0.2.1", port: 179, md5Peers: [{ address: "192.0.2.2", key: "right" }], netnsPath: server.netnsPath })
        return { wrongKey: yield* connect("wrong"), noKey: yield* connect(undefined) }
      }),
    )
    for (const error of [wrongKey, noKey]) {
      expect(error).toMatchObject({ _tag: "TcpError", operation: "connect", code: "ETIMEDOUT", address: "192.0.2.1", port: 179 })
    }
    const counters = await md5Counters(server)
    expect(counters["TcpExtTCPMD5Failure"]).toBeGreaterThan(0)
    expect(counters["TcpExtTCPMD5NotFound"]).toBeGreaterThan(0)
  })

  it("setMd5Peer adds a key to a listening socket and removes it again", async () => {
    const { lab, server, client } = await twoHosts("md5set")
    await using _ = lab
    const connect = Effect.result(
      connectTcp({ peerAddress: "192.0.2.1", peerPort: 1790, md5Key: "later", netnsPath: client.netnsPath, timeoutMs: 1_500 }),
    )
    const outcomes = await runScoped(
      Effect.gen(function* () {
        const listener = yield* listenTcp({ address: "0.0.0.0", port: 1790, netnsPath: server.netnsPath })
        const before = yield* connect
        yield* listener.setMd5Peer("192.0.2.2", "later")
        const added = yield* connect
        const serverSide = yield* listener.accept
        const bytes = added._tag === "Success" ? yield* exchange(added.success, serverSide) : undefined
        yield* listener.setMd5Peer("192.0.2.2", undefined)
        // Removing a key that is not there is not an error.
        yield* listener.setMd5Peer("192.0.2.2", undefined)
        const removed = yield* connect
        return { before, added: added._tag, bytes, removed }
      }),
    )
    expect(outcomes.before).toMatchObject({ _tag: "Failure", failure: { code: "ETIMEDOUT" } })
    expect(outcomes.added).toBe("Success")
    expect(outcomes.bytes).toEqual({ atServer: "ping", atClient: "pong" })
    expect(outcomes.removed).toMatchObject({ _tag: "Failure", failure: { code: "ETIMEDOUT" } })
  })

  it("FRR's bgpd with `neighbor ... password` accepts our MD5 connection to port 179 and sends an OPEN", async () => {
    const { lab, server, client } = await twoHosts("md5frr")
    await using _ = lab
    await using frr = await startFrr(server, {
      routerId: "192.0.2.1",
      asn: 64512,
      neighbors: [{ address: "192.0.2.2", asn: 64513, passive: true, password: "frr-md5-secret" }],
    })
    const { firstBytes, wrongKey } = await runScoped(
      Effect.gen(function* () {
        const wrongKey = yield* Effect.flip(
          connectTcp({ peerAddress: "192.0.2.1", peerPort: 179, md5Key: "not-the-password", netnsPath: client.netnsPath, timeoutMs: 1_500 }),
        )
        const socket = yield* connectTcp({
          peerAddress: "192.0.2.1",
          peerPort: 179,
          md5Key: "frr-md5-secret",
          netnsPath: client.netnsPath,
          timeoutMs: 5_000,
        })
        // BGP header: 16-byte marker of ones, 2-byte length, type 1 (OPEN).
        return { firstBytes: yield* receive(socket, 19, 10_000), wrongKey }
      }),
    )
    expect(wrongKey).toMatchObject({ code: "ETIMEDOUT" })
    expect(firstBytes.length, frr.output()).toBeGreaterThanOrEqual(19)
    expect([...firstBytes.subarray(0, 16)]).toEqual(new Array<number>(16).fill(0xff))
    expect(firstBytes[18]).toBe(1)
    expect(firstBytes.readUInt16BE(16)).toBeGreaterThanOrEqual(29)
  })

  it("ttl 1 reaches a directly connected peer but not one behind a router; ttl 2 does", async () => {
    await using lab = await Lab.create("ttl")
    const client = await lab.host("client")
    const router = await lab.host("router")
    const server = await lab.host("server")
    await lab.link(client, router, { aAddresses: ["192.0.2.1/25"], bAddresses: ["192.0.2.126/25"] })
    await lab.link(router, server, { aAddresses: ["192.0.2.129/25"], bAddresses: ["192.0.2.130/25"] })
    await router.run("sysctl", ["-qw", "net.ipv4.ip_forward=1"])
    await client.run("ip", ["route", "add", "192.0.2.128/25", "via", "192.0.2.126"])
    await server.run("ip", ["route", "add", "192.0.2.0/25", "via", "192.0.2.129"])

    const connect = (peerAddress: string, ttl: number) =>
      Effect.result(
        Effect.flatMap(connectTcp({ peerAddress, peerPort: 179, ttl, netnsPath: client.netnsPath, timeoutMs: 3_000 }), (socket) =>
          Effect.sync(() => socket.remoteAddress),
        ),
      )
    const outcomes = await runScoped(
      Effect.gen(function* () {
        yield* listenTcp({ address: "192.0.2.126", port: 179, netnsPath: router.netnsPath })
        yield* listenTcp({ address: "192.0.2.130", port: 179, netnsPath: server.netnsPath })
        return {
          direct: yield* connect("192.0.2.126", 1),
          routed: yield* connect("192.0.2.130", 1),
          routedTtl2: yield* connect("192.0.2.130", 2),
        }
      }),
    )
    expect(outcomes.direct).toMatchObject({ _tag: "Success", success: "192.0.2.126" })
    // The router answers the expired SYN with ICMP time exceeded, which ends the connect at once.
    expect(outcomes.routed).toMatchObject({ _tag: "Failure", failure: { _tag: "TcpError", code: "EHOSTUNREACH" } })
    expect(outcomes.routedTtl2).toMatchObject({ _tag: "Success", success: "192.0.2.130" })
  })

  for (const f of families) {
    it(`${f.family}: GTSM — setMinTtl(255) on a listener drops a SYN sent with ttl 254; ttl 255 connects`, async () => {
      const { lab, server, client } = await twoHosts(`gtsm${f.family}`)
      await using _ = lab
      const connect = (ttl: number) =>
        Effect.result(connectTcp({ peerAddress: f.server, peerPort: 179, ttl, netnsPath: client.netnsPath, timeoutMs: 1_500 }))
      const outcomes = await runScoped(
        Effect.gen(function* () {
          const listener = yield* listenTcp({ address: f.server, port: 179, netnsPath: server.netnsPath })
          const beforeGtsm = yield* connect(254)
          yield* setSocketMinTtl(listener.server, 255)
          return { beforeGtsm: beforeGtsm._tag, ttl254: yield* connect(254), ttl255: (yield* connect(255))._tag }
        }),
      )
      expect(outcomes.beforeGtsm).toBe("Success")
      expect(outcomes.ttl254).toMatchObject({ _tag: "Failure", failure: { code: "ETIMEDOUT" } })
      expect(outcomes.ttl255).toBe("Success")
    })
  }

  it("setSocketTtl and setSocketMinTtl work on the fds of Node sockets", async () => {
    const { lab, server, client } = await twoHosts("nodettl")
    await using _ = lab
    const result = await runScoped(
      Effect.gen(function* () {
        const listener = yield* listenTcp({ address: "192.0.2.1", port: 179, netnsPath: server.netnsPath })
        const socket = yield* connectTcp({ peerAddress: "192.0.2.1", peerPort: 179, netnsPath: client.netnsPath, timeoutMs: 5_000 })
        const serverSide = yield* listener.accept
        // GTSM on the accepted socket: the client's segments (default TTL 64) are dropped from now on.
        yield* setSocketMinTtl(serverSide, 255)
        socket.write("dropped until TTL 255")
        const whileLow = yield* receive(serverSide, 1, 700)
        // The client's TCP retransmits; once its TTL is 255 the data gets through.
        yield* setSocketTtl(socket, 255)
        const afterRaise = yield* receive(serverSide, 21, 5_000)
        socket.destroy()
        const afterDestroy = yield* Effect.flip(setSocketTtl(socket, 64))
        return { whileLow: whileLow.length, afterRaise: afterRaise.toString(), afterDestroy }
      }),
    )
    expect(result.whileLow).toBe(0)
    expect(result.afterRaise).toBe("dropped until TTL 255")
    expect(result.afterDestroy).toMatchObject({ _tag: "TcpError", operation: "setTtl", code: "EBADF" })
  })

  it("reports a refused connection, a missing namespace and a source address it cannot bind as typed errors", async () => {
    const { lab, server, client } = await twoHosts("tcperr")
    await using _ = lab
    const base: TcpConnectOptions = { peerAddress: "192.0.2.1", peerPort: 179, netnsPath: client.netnsPath, timeoutMs: 3_000 }
    const errors = await runScoped(
      Effect.all({
        refused: Effect.flip(connectTcp(base)),
        noNamespace: Effect.flip(connectTcp({ ...base, netnsPath: `${client.netnsPath}-absent` })),
        badSource: Effect.flip(connectTcp({ ...base, sourceAddress: "192.0.2.99" })),
        listenTaken: Effect.flip(
          Effect.andThen(
            listenTcp({ address: "192.0.2.1", port: 179, netnsPath: server.netnsPath }),
            listenTcp({ address: "192.0.2.1", port: 179, netnsPath: server.netnsPath }),
          ),
        ),
      }),
    )
    expect(errors.refused).toMatchObject({ _tag: "TcpError", operation: "connect", code: "ECONNREFUSED", syscall: "connect", address: "192.0.2.1", port: 179 })
    expect(errors.noNamespace).toMatchObject({ code: "ENOENT", syscall: "open" })
    expect(errors.noNamespace.message).toContain(`${client.netnsPath}-absent`)
    expect(errors.badSource).toMatchObject({ code: "EADDRNOTAVAIL", syscall: "bind" })
    expect(errors.listenTaken).toMatchObject({ operation: "listen", code: "EADDRINUSE", syscall: "bind" })
  })

  // Whether or not the kernel has VRFs (CONFIG_NET_VRF), a VRF that is not there must fail the socket,
  // never leave it in the default VRF, where this peer is reachable.
  it("vrf: a dial, a listener and checkVrf naming an absent device (ENODEV) or a non-VRF one (EMEDIUMTYPE) fail, and nothing reaches the peer", async () => {
    const lab = await Lab.create("tcpvrf")
    await using _ = lab
    const server = await lab.host("server")
    const client = await lab.host("client")
    const { bName: clientInterface } = await lab.link(server, client, { aAddresses: ["192.0.2.1/24"], bAddresses: ["192.0.2.2/24"] })
    const addon = await rawAddon()
    const thrown = (f: () => void) => {
      try {
        f()
        return undefined
      } catch (error) {
        return error
      }
    }
    const outcome = await runScoped(
      Effect.gen(function* () {
        const listener = yield* listenTcp({ address: "192.0.2.1", port: 179, netnsPath: server.netnsPath })
        const dial = (vrf: string) => Effect.flip(connectTcp({ peerAddress: "192.0.2.1", peerPort: 179, vrf, netnsPath: client.netnsPath, timeoutMs: 2_000 }))
        const absent = yield* dial("red")
        const notVrf = yield* dial(clientInterface)
        const loopback = yield* dial("lo")
        const acceptedMeanwhile = yield* Effect.timeoutOption(listener.accept, "300 millis")
        // The control: without a VRF the same dial connects, so the peer was reachable in the default VRF.
        const plain = yield* connectTcp({ peerAddress: "192.0.2.1", peerPort: 179, netnsPath: client.netnsPath, timeoutMs: 2_000 })
        const listenAbsent = yield* Effect.flip(listenTcp({ address: "0.0.0.0", port: 1179, vrf: "red", netnsPath: client.netnsPath }))
        const listenNotVrf = yield* Effect.flip(listenTcp({ address: "0.0.0.0", port: 1179, vrf: clientInterface, netnsPath: client.netnsPath }))
        return { absent, notVrf, loopback, acceptedMeanwhile: Option.isSome(acceptedMeanwhile), plain: plain.remoteAddress, listenAbsent, listenNotVrf }
      }),
    )
    expect(outcome.absent).toMatchObject({ _tag: "TcpError", operation: "connect", code: "ENODEV", syscall: "ioctl(SIOCETHTOOL) on the VRF device" })
    expect(outcome.notVrf).toMatchObject({ code: "EMEDIUMTYPE" })
    expect(outcome.loopback).toMatchObject({ code: "EMEDIUMTYPE" })
    expect(outcome.acceptedMeanwhile).toBe(false)
    expect(outcome.plain).toBe("192.0.2.1")
    expect(outcome.listenAbsent).toMatchObject({ operation: "listen", code: "ENODEV" })
    expect(outcome.listenNotVrf).toMatchObject({ operation: "listen", code: "EMEDIUMTYPE" })
    expect(thrown(() => addon.checkVrf({ vrf: "red", netnsPath: client.netnsPath }))).toMatchObject({ code: "ENODEV", message: expect.stringContaining("VRF red") })
    expect(thrown(() => addon.checkVrf({ vrf: clientInterface, netnsPath: client.netnsPath }))).toMatchObject({ code: "EMEDIUMTYPE" })
    expect(thrown(() => addon.checkVrf({ vrf: "", netnsPath: client.netnsPath }))).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(thrown(() => addon.checkVrf({ vrf: "a-name-too-long-for-linux" }))).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
  })

  it("an interrupted connect is cancelled in the kernel: no half-open socket stays behind", async () => {
    const { lab, client } = await twoHosts("tcpcancel")
    await using _ = lab
    const synSent = async () => (await client.run("ss", ["-Htn", "state", "syn-sent"])).stdout.trim()
    const { during, after } = await runScoped(
      Effect.gen(function* () {
        // Nobody answers for 192.0.2.3: the SYN waits for ARP, then retries, until the timeout.
        const fiber = yield* Effect.forkScoped(
          connectTcp({ peerAddress: "192.0.2.3", peerPort: 179, netnsPath: client.netnsPath, timeoutMs: 30_000 }),
        )
        const during = yield* Effect.promise(() => eventually("a SYN-SENT socket", async () => (await synSent()) || undefined, { timeoutMs: 5_000, intervalMs: 50 }))
        yield* Fiber.interrupt(fiber)
        return { during, after: yield* Effect.promise(synSent) }
      }),
    )
    expect(during).toContain("192.0.2.3:179")
    expect(after).toBe("")
  })
})

describe("TCP addon arguments (no root needed)", () => {
  beforeAll(() => {
    ensureAddonBuilt()
  }, 300_000)

  const connectError = (options: Partial<TcpConnectOptions>) =>
    runScoped(Effect.flip(connectTcp({ peerAddress: "127.0.0.1", peerPort: 179, timeoutMs: 1_000, ...options } as TcpConnectOptions)))

  it("rejects bad connect options before touching the kernel, as typed errors", async () => {
    expect(await connectError({ peerAddress: "bgp.example" })).toMatchObject({ _tag: "TcpError", code: "ERR_INVALID_IP_ADDRESS" })
    expect(await connectError({ peerAddress: "192.0.2.1%eth0" })).toMatchObject({ code: "ERR_INVALID_IP_ADDRESS" })
    expect(await connectError({ peerPort: 0 })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await connectError({ peerPort: 65536 })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await connectError({ md5Key: "k".repeat(81) })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await connectError({ md5Key: "" })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await connectError({ ttl: 0 })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await connectError({ ttl: 256 })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await connectError({ ttl: 1.5 })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await connectError({ timeoutMs: undefined as unknown as number })).toMatchObject({ code: "ERR_MISSING_OPTION" })
    expect(await connectError({ sourceAddress: "::1" })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await connectError({ netnsPath: 7 as unknown as string })).toMatchObject({ code: "ERR_INVALID_ARG_TYPE" })
  })

  it("takes MD5 keys as bytes or text; the connections stream hands over accepted sockets one by one", async () => {
    const result = await runScoped(
      Effect.gen(function* () {
        const listener = yield* listenTcp({ address: "127.0.0.1", port: 0, md5Peers: [{ address: "127.0.0.1", key: Buffer.from("abc") }] })
        const text = yield* connectTcp({ peerAddress: "127.0.0.1", peerPort: listener.port, md5Key: "abc", timeoutMs: 2_000 })
        const bytes = yield* connectTcp({ peerAddress: "127.0.0.1", peerPort: listener.port, md5Key: new Uint8Array([97, 98, 99]), timeoutMs: 2_000 })
        const longest = yield* Effect.flip(
          connectTcp({ peerAddress: "127.0.0.1", peerPort: listener.port, md5Key: new Uint8Array(80).fill(7), timeoutMs: 1_000 }),
        )
        // Both were accepted before anyone asked; a consumer that stops after one leaves the other queued.
        const first = yield* Stream.runHead(listener.connections)
        const second = yield* Stream.runHead(listener.connections)
        return {
          ports: [Option.getOrThrow(first).remotePort, Option.getOrThrow(second).remotePort],
          expected: [text.localPort, bytes.localPort],
          longest,
        }
      }),
    )
    expect(result.ports).toEqual(result.expected)
    // An 80-byte key passes the argument checks; the listener has a different key, so the SYN is ignored.
    expect(result.longest).toMatchObject({ code: "ETIMEDOUT" })
  })

  it("rejects bad listen options and md5Peers", async () => {
    const listenError = (options: Record<string, unknown>) =>
      runScoped(Effect.flip(listenTcp({ address: "127.0.0.1", port: 0, ...options } as never)))
    expect(await listenError({ port: -1 })).toMatchObject({ _tag: "TcpError", operation: "listen", code: "ERR_INVALID_ARG_VALUE" })
    expect(await listenError({ md5Peers: "192.0.2.1" })).toMatchObject({ code: "ERR_INVALID_ARG_TYPE" })
    expect(await listenError({ md5Peers: [{ address: "192.0.2.1" }] })).toMatchObject({ code: "ERR_INVALID_ARG_TYPE" })
    expect(await listenError({ md5Peers: [{ address: "not-an-ip", key: "k" }] })).toMatchObject({ code: "ERR_INVALID_IP_ADDRESS" })
    expect(await listenError({ backlog: 0 })).toMatchObject({ code: "ERR_INVALID_ARG_VALUE" })
    expect(await listenError({ v6Only: "yes" })).toMatchObject({ code: "ERR_INVALID_ARG_TYPE" })
  })

  it("the raw setters name the fd, and refuse what is not an IP socket", async () => {
    const addon = await rawAddon()
    const file = openSync(join(tmpdir(), `metallb-ts-not-a-socket-${process.pid}`), "w")
    try {
      expect(() => addon.setTtl(file, 64)).toThrow(expect.objectContaining({ code: "ENOTSOCK", fd: file }))
      expect(() => addon.setMinTtl(file, 255)).toThrow(expect.objectContaining({ code: "ENOTSOCK" }))
      expect(() => addon.setMd5Peer(file, "192.0.2.1", "k")).toThrow(expect.objectContaining({ code: "ENOTSOCK" }))
    } finally {
      closeSync(file)
    }
    expect(() => addon.setTtl(-1, 64)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }))
    expect(() => addon.setMinTtl(0, 256)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_VALUE" }))
    expect(() => addon.tcpConnect(undefined as never)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG_TYPE" }))
  })

  it("connects, signs and cancels on loopback without root", async () => {
    const result = await runScoped(
      Effect.gen(function* () {
        const listener = yield* listenTcp({ address: "127.0.0.1", port: 0, md5Peers: [{ address: "127.0.0.1", key: "loop" }] })
        const socket = yield* connectTcp({ peerAddress: "127.0.0.1", peerPort: listener.port, md5Key: "loop", timeoutMs: 2_000 })
        const bytes = yield* exchange(socket, yield* listener.accept)
        const addon = yield* TcpAddon
        const pending = addon.tcpConnect({ peerAddress: "127.0.0.1", peerPort: listener.port, md5Key: "other", timeoutMs: 5_000 })
        pending.cancel()
        pending.cancel()
        const cancelled = yield* Effect.promise(() => pending.then(() => undefined, (error: unknown) => error))
        return { bytes, cancelled }
      }),
    )
    expect(result.bytes).toEqual({ atServer: "ping", atClient: "pong" })
    expect(result.cancelled).toMatchObject({ code: "ECANCELED", syscall: "connect" })
  })

  it("a dual-stack listener keys IPv4 peers (as IPv4-mapped addresses) and IPv6 peers apart", async () => {
    const result = await runScoped(
      Effect.gen(function* () {
        const listener = yield* listenTcp({
          address: "::",
          port: 0,
          v6Only: false,
          md5Peers: [
            { address: "127.0.0.1", key: "four" },
            { address: "::1", key: "six" },
          ],
        })
        const connect = (peerAddress: string, md5Key: string | undefined) =>
          connectTcp({ peerAddress, peerPort: listener.port, ...(md5Key === undefined ? {} : { md5Key }), timeoutMs: 1_000 })
        yield* connect("127.0.0.1", "four")
        const v4 = (yield* listener.accept).remoteAddress
        const v4WithV6Key = yield* Effect.flip(connect("127.0.0.1", "six"))
        yield* connect("::1", "six")
        const v6 = (yield* listener.accept).remoteAddress
        yield* listener.setMd5Peer("127.0.0.1", undefined)
        yield* connect("127.0.0.1", undefined)
        return { v4, v4WithV6Key: v4WithV6Key.code, v6, unsignedAfterRemoval: (yield* listener.accept).remoteAddress }
      }),
    )
    expect(result).toEqual({ v4: "::ffff:127.0.0.1", v4WithV6Key: "ETIMEDOUT", v6: "::1", unsignedAfterRemoval: "::ffff:127.0.0.1" })
  })

  // The first dial of a process happens before its event loop has turned: libuv's cached loop time is
  // still the one from before the start's synchronous work (loading modules, reading configuration), and
  // a connect timer counted from it fired early by that much (a 2 s timeout after tens of ms).
  it("the first dial right after a slow start times out after the full timeoutMs", async () => {
    const timeoutMs = 2_000
    const startupWorkMs = 1_200
    // An MD5 listener drops the SYN of a dial with another key without answering: the dial can only time out.
    const listener = await Effect.runPromise(
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const listener = yield* Scope.provide(listenTcp({ address: "127.0.0.1", port: 0, md5Peers: [{ address: "127.0.0.1", key: "listener" }] }), scope)
        return { port: listener.port, close: Scope.close(scope, Exit.void) }
      }).pipe(Effect.provide(TcpAddon.layer)),
    )
    try {
      const report = await firstDial({ addonPath: defaultAddonPath, port: listener.port, timeoutMs, startupWorkMs })
      expect(report.code).toBe("ETIMEDOUT")
      // Never early (libuv counts whole milliseconds); late only by scheduling, generous for a loaded 2-core machine.
      expect(report.elapsedMs).toBeGreaterThanOrEqual(timeoutMs - 2)
      expect(report.elapsedMs).toBeLessThan(timeoutMs + 1_500)
    } finally {
      await Effect.runPromise(listener.close)
    }
  }, 20_000)

  it("accept fails with ERR_SOCKET_CLOSED once the listener's scope has closed", async () => {
    const error = await runScoped(
      Effect.gen(function* () {
        const listener = yield* Effect.scoped(listenTcp({ address: "127.0.0.1", port: 0 }))
        return yield* Effect.flip(listener.accept)
      }),
    )
    expect(error).toMatchObject({ _tag: "TcpError", operation: "accept", code: "ERR_SOCKET_CLOSED" })
  })

  it("fails the layer with NativeAddonMissing when the addon is not built", async () => {
    const error = await Effect.runPromise(
      Effect.flip(Effect.provide(addonService, TcpAddon.layerAt(join(tmpdir(), "metallb-ts-no-such-dir", "packet.node")))),
    )
    expect(error._tag).toBe("NativeAddonMissing")
  })
})
