// The speaker's passive side of BGP (RFC 4271 §8: a peer may connect to us as well as be dialled, and
// FRR both listens on 179 and dials by default): one listener per address family on every address, so
// a node without IPv6 (or with IPv4 only) still listens for what it has, and per VRF that has peers. Each session adds its peer to
// its family's listener (the peer's MD5 key goes onto the listening socket; Linux copies it into the
// accepted connection) and the connection reaches that session as IncomingConnection, where core's
// collision resolution (§6.8) keeps one. A connection from an address no session has is closed, and
// logged once per address: a misconfigured router retries every few seconds and must not flood the log.
import type { Family } from "../../core/net/address.ts"
import type { TcpAddonApi } from "../native/tcp.ts"
import { type BgpListener, listenBgp } from "./bgp-transport.ts"
import type { CallbackLog } from "./callback-log.ts"
import type { Fibers } from "./fibers.ts"

export const bgpPort = 179

/** Distinct refused addresses logged by name; beyond this only the count grows. */
export const maxLoggedRefusals = 256

export interface BgpListenersOptions {
  readonly log: CallbackLog
  /** 179 unless a test needs another. */
  readonly port?: number
  /** Listen inside this network namespace (tests; a speaker runs in the host's). */
  readonly netnsPath?: string
  /** The owner's fibers (the listeners' accept loops and sockets are its). */
  readonly fibers: Fibers
}

export interface BgpListeners {
  /**
   * The listener for peers of this family in this VRF ("" the default one), if it could be opened. A
   * VRF's listener is bound to its device, opened at its first peer's request, and takes only
   * connections that arrive on that VRF's interfaces; one that cannot be opened is tried again at the
   * next request (undefined without a warning when the VRF is not on the node: its session says so).
   */
  readonly forPeer: (family: Family, vrf: string) => Promise<BgpListener | undefined>
  /** Connections closed because no session has their source address, every family together. */
  readonly refused: () => number
  readonly close: () => Promise<void>
}

const wildcard: Readonly<Record<Family, string>> = { ipv4: "0.0.0.0", ipv6: "::" }

const errorText = (error: unknown): string => {
  const message = (error as { message?: unknown } | null)?.message
  return typeof message === "string" ? message : String(error)
}

/** Opens the default VRF's listener per family (VRFs' on demand); one that cannot be opened is logged and its peers are only dialled. */
export const openBgpListeners = async (addon: TcpAddonApi, options: BgpListenersOptions): Promise<BgpListeners> => {
  const port = options.port ?? bgpPort
  const logged = new Set<string>()
  let overflowLogged = false
  const onRefused = (address: string) => {
    if (logged.has(address)) return
    if (logged.size < maxLoggedRefusals) {
      logged.add(address)
      options.log("warning", `bgp: refused a connection from ${address} to port ${port}: no BGPPeer of this node has that address (logged once per address)`)
    } else if (!overflowLogged) {
      overflowLogged = true
      options.log("warning", `bgp: connections from more than ${maxLoggedRefusals} unknown addresses refused; further ones are only counted`)
    }
  }
  const listeners = new Map<string, Promise<BgpListener | undefined>>()
  /** The listeners open now (for the refusal count, read synchronously). */
  const settled = new Set<BgpListener>()
  /** Listeners that could not be opened and have been warned about. */
  const unopened = new Set<string>()
  const vrfPresent = (vrf: string): boolean => {
    try {
      addon.checkVrf({ vrf, ...(options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }) })
      return true
    } catch {
      return false
    }
  }
  const open = async (family: Family, vrf: string): Promise<BgpListener | undefined> => {
    // A VRF the node lacks is reported by the session, which then does not start: no second warning here.
    if (vrf !== "" && !vrfPresent(vrf)) return undefined
    const where = `[${wildcard[family]}]:${port}${vrf === "" ? "" : ` in VRF ${JSON.stringify(vrf)}`}`
    try {
      const listener = await listenBgp(addon, {
        address: wildcard[family],
        port,
        dualStack: false,
        onRefused,
        fibers: options.fibers,
        ...(vrf === "" ? {} : { vrf }),
        ...(options.netnsPath === undefined ? {} : { netnsPath: options.netnsPath }),
      })
      unopened.delete(where)
      return listener
    } catch (error) {
      const text = errorText(error)
      // Tried again at each session's request, said once until it works.
      if (unopened.has(where)) return undefined
      unopened.add(where)
      options.log(
        "warning",
        `bgp: not listening on ${where} (${text}); such peers are only dialled, a peer that connects to this node is refused` +
          (text.includes("EACCES") ? " (binding port 179 needs the NET_BIND_SERVICE capability)" : ""),
      )
      return undefined
    }
  }
  let closed = false
  const forPeer = async (family: Family, vrf: string): Promise<BgpListener | undefined> => {
    if (closed) return undefined
    const key = `${vrf}/${family}`
    const known = listeners.get(key)
    if (known !== undefined) return known
    const opened = open(family, vrf).then((listener) => {
      if (listener === undefined) listeners.delete(key)
      else settled.add(listener)
      return listener
    })
    listeners.set(key, opened)
    return opened
  }
  await Promise.all([forPeer("ipv4", ""), forPeer("ipv6", "")])
  return {
    forPeer,
    refused: () => [...settled].reduce((sum, listener) => sum + listener.refused(), 0),
    close: async () => {
      closed = true
      await Promise.allSettled(listeners.values())
      await Promise.all([...settled].map((listener) => listener.close()))
    },
  }
}
