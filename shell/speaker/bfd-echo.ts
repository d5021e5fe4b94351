// BFD echoes on the wire (RFC 5881 §4), IPv4 single hop, as FRR's bfdd sends them: each echo is a
// whole Ethernet frame (core/bfd/echo-frame.ts) written on an AF_PACKET socket to the neighbour's MAC,
// from our address to our address, so the neighbour's forwarding plane routes it straight back. The
// neighbour's MAC comes from the kernel's neighbour table (/proc/net/arp), refreshed every second:
// the kernel resolved it for the control packets, and while it is unknown no echo goes out (the echo
// detection time then brings the session down, as it should on a path that cannot even resolve).
// Echoes come back as UDP datagrams to our address, port 3785, on one socket per local address shared
// by the host's sessions and handed to the session whose discriminator the echo carries.
//
// Two kernel settings decide what this host can do, and they are read, never changed:
// - net.ipv4.conf.<if>.forwarding = 1: the kernel routes the neighbour's echoes back, so we may
//   advertise a non-zero Required Min Echo RX Interval (`loopsBack`);
// - net.ipv4.conf.<if>.accept_local = 1: a returning echo has our own address as its source, which the
//   kernel otherwise drops as a martian before any socket sees it, so without it we send no echoes.
import { execFile } from "node:child_process"
import { readdir, readFile } from "node:fs/promises"
import { promisify } from "node:util"
import { Effect, Scope, Stream } from "effect"
import { echoPort } from "../../core/bfd/echo-frame.ts"
import { encodeEchoFrame } from "../../core/bfd/echo-frame.ts"
import type { PacketAddonApi, PacketHandle } from "../native/packet.ts"
import { openUdp, UdpAddon, type UdpAddonApi, type UdpSocket } from "../native/udp.ts"
import type { EchoPort } from "./bfd-driver.ts"
import type { Fibers } from "./fibers.ts"

const run = promisify(execFile)
/** An EtherType nothing sends (IEEE 802 local experimental): the socket only writes frames. */
const sendOnlyEtherType = 0x88b5
export const neighbourRefreshMs = 1_000

/** Reads a /proc file in the namespace the sockets live in (nsenter when it is not ours). */
export const readProc = async (path: string, netnsPath: string | undefined): Promise<string> =>
  netnsPath === undefined ? readFile(path, "utf8") : (await run("nsenter", [`--net=${netnsPath}`, "cat", path])).stdout

const sysctlOn = async (name: string, interfaceName: string, netnsPath: string | undefined): Promise<boolean> =>
  (await readProc(`/proc/sys/net/ipv4/conf/${interfaceName}/${name}`, netnsPath)).trim() === "1"

/** The MAC the kernel has for `address` on `interfaceName`, from /proc/net/arp (complete entries only). */
export const parseArpTable = (text: string, address: string, interfaceName: string): Uint8Array | undefined => {
  for (const line of text.split("\n").slice(1)) {
    const [ip, , flags, mac, , device] = line.trim().split(/\s+/)
    // Flags 0x2 (ATF_COM): the entry is complete; an incomplete one has a zero MAC.
    if (ip !== address || device !== interfaceName || flags === undefined || (Number(flags) & 0x2) === 0 || mac === undefined) continue
    const bytes = Uint8Array.from(mac.split(":"), (h) => parseInt(h, 16))
    if (bytes.length === 6 && bytes.every((b) => Number.isInteger(b)) && bytes.some((b) => b !== 0)) return bytes
  }
  return undefined
}

const ipv4Bytes = (address: string): Uint8Array => {
  const parts = address.split(".").map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`${address} is not an IPv4 address`)
  return Uint8Array.from(parts)
}

export interface EchoCapability {
  /** We can send echoes and receive them back (accept_local on). */
  readonly canSend: boolean
  /** The kernel forwards the neighbour's echoes back (forwarding on). */
  readonly loopsBack: boolean
  /** Why not, for the log: empty when both hold. */
  readonly reasons: ReadonlyArray<string>
}

export const echoCapability = async (interfaceName: string, netnsPath?: string): Promise<EchoCapability> => {
  const [forwarding, acceptLocal] = await Promise.all([
    sysctlOn("forwarding", interfaceName, netnsPath),
    sysctlOn("accept_local", interfaceName, netnsPath),
  ])
  return {
    canSend: acceptLocal,
    loopsBack: forwarding,
    reasons: [
      ...(forwarding ? [] : [`net.ipv4.conf.${interfaceName}.forwarding is 0: the neighbour's echoes would not be looped back, so Required Min Echo RX 0 is advertised`]),
      ...(acceptLocal ? [] : [`net.ipv4.conf.${interfaceName}.accept_local is 0: our echoes would come back with our own source address and be dropped as martians, so none are sent`]),
    ],
  }
}

/**
 * The interface with kernel index `index`, in the sockets' namespace: from /sys/class/net in ours (the
 * speaker runs in the host's), from `ip -o link` in another (tests), whose sysfs we cannot see.
 */
export const interfaceNameOf = async (index: number, netnsPath?: string): Promise<string | undefined> => {
  if (netnsPath !== undefined) {
    const listing = (await run("nsenter", [`--net=${netnsPath}`, "ip", "-o", "link", "show"])).stdout
    const line = listing.split("\n").find((l) => l.startsWith(`${index}:`))
    return /^\d+:\s*([^:@\s]+)/.exec(line ?? "")?.[1]
  }
  for (const name of await readdir("/sys/class/net")) {
    const found = await readFile(`/sys/class/net/${name}/ifindex`, "utf8").then((t) => Number(t.trim()), () => undefined)
    if (found === index) return name
  }
  return undefined
}

export interface EchoLink extends EchoPort {
  /** Echoes not sent because the neighbour's MAC is not (yet) known. */
  readonly unsentNoNeighbour: () => number
  readonly close: () => Promise<void>
}

export interface EchoEndpoint {
  readonly link: (options: { readonly interfaceName: string; readonly localAddress: string; readonly peerAddress: string; readonly discriminator: number }) => Promise<EchoLink>
  readonly close: () => Promise<void>
}

/** The host's echo endpoint: one receiving socket per local address, one send-only packet socket per link. */
export const openEchoEndpoint = (addons: { readonly udp: UdpAddonApi; readonly packet: PacketAddonApi }, options: { readonly netnsPath?: string; readonly fibers: Fibers }): EchoEndpoint => {
  const { fibers } = options
  const scope = fibers.child()
  const netns = options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }
  const receivers = new Map<string, Promise<UdpSocket>>()
  const byDiscriminator = new Map<number, (bytes: Uint8Array) => void>()

  const receiver = (localAddress: string): Promise<UdpSocket> => {
    const existing = receivers.get(localAddress)
    if (existing !== undefined) return existing
    const opened = fibers.run(
      openUdp({ address: localAddress, port: echoPort, ...netns }).pipe(Scope.provide(scope), Effect.provideService(UdpAddon, addons.udp)),
    ).then((socket) => {
      fibers.fork(Stream.runForEach(socket.datagrams, (d) =>
        Effect.sync(() => {
          // Only echoes that left from this address and came back to it; the discriminator picks the session.
          if (d.address !== localAddress || d.data.length < 8) return
          const discriminator = new DataView(d.data.buffer, d.data.byteOffset, d.data.byteLength).getUint32(4)
          byDiscriminator.get(discriminator)?.(d.data)
        })))
      return socket
    })
    receivers.set(localAddress, opened)
    opened.catch(() => receivers.delete(localAddress))
    return opened
  }

  return {
    link: async ({ interfaceName, localAddress, peerAddress, discriminator }) => {
      const address = ipv4Bytes(localAddress)
      await receiver(localAddress)
      const info = addons.packet.interfaceInfo(interfaceName, options.netnsPath)
      const handle: PacketHandle = addons.packet.openPacket(interfaceName, sendOnlyEtherType, options.netnsPath)
      let neighbourMac: Uint8Array | undefined
      let unsent = 0
      let identification = 0
      let closed = false
      const refresh = async () => {
        try {
          neighbourMac = parseArpTable(await readProc("/proc/net/arp", options.netnsPath), peerAddress, interfaceName)
        } catch {
          neighbourMac = undefined
        }
      }
      await refresh()
      const timer = setInterval(() => void refresh(), neighbourRefreshMs)
      return {
        send: (payload) => {
          if (closed) return
          if (neighbourMac === undefined) {
            unsent += 1
            return
          }
          identification = (identification + 1) & 0xffff
          const frame = encodeEchoFrame({ destinationMac: neighbourMac, sourceMac: info.mac, address, payload, identification })
          try {
            addons.packet.send(handle, frame)
          } catch {
            // A down link: the echo is lost, which is what echo detects.
          }
        },
        onReceive: (listener) => {
          byDiscriminator.set(discriminator >>> 0, listener)
        },
        unsentNoNeighbour: () => unsent,
        close: async () => {
          if (closed) return
          closed = true
          clearInterval(timer)
          byDiscriminator.delete(discriminator >>> 0)
          addons.packet.close(handle)
        },
      }
    },
    close: async () => {
      byDiscriminator.clear()
      await fibers.close(scope)
    },
  }
}
