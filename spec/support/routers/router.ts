// What every test router (BIRD, FRR, GoBGP) has in common: one description of a router's BGP
// configuration, the learned routes and session states as plain data, and the life cycle of the
// daemons behind it (a per-instance temp dir, processes started with `host.spawn` so the lab stops
// them, a bounded wait for readiness, and start-up errors that carry the daemon's output and the
// generated config). The daemon-specific modules only translate to and from each daemon's dialect.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import ipaddr from "ipaddr.js"
import { assertTestAddress, eventually, type Host, type HostProcess } from "../netns.ts"

export interface BfdTimers {
  readonly receiveIntervalMs: number
  readonly transmitIntervalMs: number
  readonly detectMultiplier: number
}

export interface NeighborConfig {
  readonly address: string
  readonly asn: number
  /** The neighbor's BGP port (default 179). */
  readonly port?: number
  readonly holdTimeSeconds?: number
  readonly keepaliveSeconds?: number
  /** Seconds between connection attempts; default 2 (daemons default to 30-120 s, too slow for tests). */
  readonly connectRetrySeconds?: number
  /** Only accept connections; never connect out. */
  readonly passive?: boolean
  /** TCP-MD5 (RFC 2385) password. */
  readonly password?: string
  /** Runs BFD for this session with these timers (BIRD and FRR only). */
  readonly bfd?: BfdTimers
  /** eBGP multihop with TTL 255 (and multihop BFD). */
  readonly multihop?: boolean
  /** Negotiate IPv4 unicast; default: when the neighbor address is IPv4. */
  readonly ipv4?: boolean
  /** Negotiate IPv6 unicast; default: when the neighbor address is IPv6 (true on an IPv4 session means MP-BGP). */
  readonly ipv6?: boolean
}

export interface RouterConfig {
  readonly routerId: string
  readonly asn: number
  readonly neighbors: ReadonlyArray<NeighborConfig>
  /** Local address for the sessions (source address; the only address listened on where the daemon allows). */
  readonly listenAddress?: string
  /** Local BGP listening port (default 179; namespaces have their own ports, so 179 rarely collides). */
  readonly listenPort?: number
  /** Prefixes (IPv4 and IPv6) the router originates to every neighbor of that family. */
  readonly announce?: ReadonlyArray<string>
  /** Install learned routes in the namespace's kernel table (BIRD, FRR). Default false. */
  readonly installRoutes?: boolean
}

/** RFC 4271 state names; daemons' own extra states (BIRD's `Close`) pass through as they are. */
export type BgpState = "Idle" | "Connect" | "Active" | "OpenSent" | "OpenConfirm" | "Established" | (string & {})

export interface NeighborStatus {
  readonly address: string
  readonly asn: number | undefined
  readonly state: BgpState
  /** Negotiated hold time while Established, otherwise the configured one. */
  readonly holdTimeSeconds: number | undefined
  /** The daemon's last error or reset reason, when it reports one. */
  readonly lastError: string | undefined
}

/** A path learned from a BGP neighbor (locally originated routes are not included). */
export interface LearnedRoute {
  readonly prefix: string
  readonly nextHop: string
  readonly asPath: ReadonlyArray<number>
  /** Standard communities as `asn:value`. */
  readonly communities: ReadonlyArray<string>
  /** Large communities as `global:local1:local2`. */
  readonly largeCommunities: ReadonlyArray<string>
  readonly localPref?: number
  readonly med?: number
  /** The neighbor the path came from. */
  readonly neighbor: string
  /** Whether the daemon selected this path as best. */
  readonly best: boolean
}

export type BfdState = "Up" | "Down" | "Init" | "AdminDown" | (string & {})

export interface BfdSession {
  readonly peer: string
  readonly state: BfdState
  readonly interface: string | undefined
  /** The daemon's own fields for this session, for checks the common shape does not cover. */
  readonly details: Readonly<Record<string, unknown>>
}

export type RouterKind = "bird" | "frr" | "gobgp"

export interface BgpRouter extends AsyncDisposable {
  readonly kind: RouterKind
  readonly host: Host
  readonly config: RouterConfig
  /** The instance's temp dir (removed when its daemons stop). */
  readonly dir: string
  /** The generated config files, by file name. */
  readonly files: Readonly<Record<string, string>>
  /** The daemons' combined stdout/stderr so far. */
  readonly output: () => string
  readonly neighbors: () => Promise<ReadonlyArray<NeighborStatus>>
  readonly routes: () => Promise<ReadonlyArray<LearnedRoute>>
  /** Stops the daemons and removes the temp dir. Idempotent. */
  readonly stop: () => Promise<void>
}

export interface BfdRouter extends BgpRouter {
  readonly bfdSessions: () => Promise<ReadonlyArray<BfdSession>>
}

export interface StartOptions {
  /** How long to wait for the daemons to answer with the configured neighbors (default 20 s). */
  readonly startTimeoutMs?: number
}

// --- addresses and validation ---------------------------------------------------------------

export const isIPv4 = (address: string): boolean => ipaddr.parse(address.split("/")[0] ?? "").kind() === "ipv4"

/** Canonical text of an address, so `2001:DB8::0:1` and `2001:db8::1` compare equal. */
export const canonicalAddress = (address: string): string => {
  const parsed = ipaddr.parse(address)
  return parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()
    ? (parsed as ipaddr.IPv6).toIPv4Address().toString()
    : parsed.toString()
}

export const sameAddress = (a: string, b: string): boolean => {
  try {
    return canonicalAddress(a) === canonicalAddress(b)
  } catch {
    return a === b
  }
}

/** Canonical text of a prefix (network address and length). */
export const canonicalPrefix = (prefix: string): string => {
  const [address, length] = ipaddr.parseCIDR(prefix)
  return `${address.toString()}/${length}`
}

export const families = (neighbor: NeighborConfig): { readonly ipv4: boolean; readonly ipv6: boolean } => {
  const v4 = isIPv4(neighbor.address)
  return { ipv4: neighbor.ipv4 ?? v4, ipv6: neighbor.ipv6 ?? !v4 }
}

export const connectRetrySeconds = (neighbor: NeighborConfig): number => neighbor.connectRetrySeconds ?? 2

/** Hold and keepalive as a pair, filling the missing one the RFC 4271 way (keepalive = hold / 3). */
export const timers = (neighbor: NeighborConfig): { readonly holdSeconds: number; readonly keepaliveSeconds: number } | undefined => {
  const { holdTimeSeconds: hold, keepaliveSeconds: keepalive } = neighbor
  if (hold === undefined && keepalive === undefined) return undefined
  if (hold !== undefined && keepalive !== undefined) return { holdSeconds: hold, keepaliveSeconds: keepalive }
  if (hold !== undefined) return { holdSeconds: hold, keepaliveSeconds: Math.floor(hold / 3) }
  return { holdSeconds: 3 * (keepalive ?? 0), keepaliveSeconds: keepalive ?? 0 }
}

// Documentation ASNs (RFC 5398) and private ones (RFC 6996).
const asnRanges: ReadonlyArray<readonly [number, number]> = [
  [64496, 65534],
  [65536, 65551],
  [4_200_000_000, 4_294_967_294],
]

const assertTestAsn = (asn: number, where: string): void => {
  if (!Number.isInteger(asn) || !asnRanges.some(([lo, hi]) => asn >= lo && asn <= hi)) {
    throw new Error(`${where}: ASN ${asn} is not a documentation or private ASN (64496-65534, 65536-65551, 4200000000-4294967294)`)
  }
}

// Every daemon's config syntax takes a bare word here; quoting rules differ, so keep passwords simple.
const passwordPattern = /^[A-Za-z0-9._~!@#%^&*+=-]{1,80}$/

/** Refuses configs that would send traffic outside TESTBED.md's ranges or that a daemon could not express. */
export const validateConfig = (kind: RouterKind, config: RouterConfig): void => {
  const where = `${kind} router ${config.routerId}`
  if (!ipaddr.IPv4.isValidFourPartDecimal(config.routerId)) throw new Error(`${where}: routerId must be a dotted quad`)
  assertTestAddress(config.routerId)
  assertTestAsn(config.asn, where)
  if (config.listenAddress !== undefined) assertTestAddress(config.listenAddress)
  for (const prefix of config.announce ?? []) {
    assertTestAddress(prefix)
    ipaddr.parseCIDR(prefix)
  }
  const seen = new Set<string>()
  for (const neighbor of config.neighbors) {
    assertTestAddress(neighbor.address)
    assertTestAsn(neighbor.asn, `${where}, neighbor ${neighbor.address}`)
    const key = canonicalAddress(neighbor.address)
    if (seen.has(key)) throw new Error(`${where}: neighbor ${neighbor.address} appears twice`)
    seen.add(key)
    if (neighbor.password !== undefined && !passwordPattern.test(neighbor.password)) {
      throw new Error(`${where}, neighbor ${neighbor.address}: password must match ${passwordPattern}`)
    }
  }
}

// --- instance directories -------------------------------------------------------------------

const instanceDirPattern = /^mlbt-(\d+)-.+\.(bird|frr|gobgp)\.[A-Za-z0-9]{6}$/

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Removes instance dirs left behind by test processes that no longer run. */
export const sweepStaleInstanceDirs = (): void => {
  for (const name of readdirSync(tmpdir())) {
    const match = instanceDirPattern.exec(name)
    if (match !== null && !isAlive(Number(match[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true })
  }
}

/** A temp dir named after the host's namespace, so the stale sweep can tell whose it is. */
export const createInstanceDir = (host: Host, kind: RouterKind): string => {
  sweepStaleInstanceDirs()
  return mkdtempSync(join(tmpdir(), `${host.netns}.${kind}.`))
}

export const writeFiles = (dir: string, files: Readonly<Record<string, string>>): void => {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
}

// --- daemons --------------------------------------------------------------------------------

export interface Daemon {
  readonly name: string
  readonly process: HostProcess
}

const hasExited = (p: HostProcess): boolean => p.child.exitCode !== null || p.child.signalCode !== null

export const combinedOutput = (daemons: ReadonlyArray<Daemon>): string =>
  daemons.length === 1 ? (daemons[0]?.process.output() ?? "") : daemons.map((d) => `[${d.name}]\n${d.process.output()}`).join("\n")

const numbered = (text: string): string =>
  text
    .split("\n")
    .map((line, i) => `${String(i + 1).padStart(4)}  ${line}`)
    .join("\n")

/** An error that shows what a person needs to fix a daemon that would not start. */
export const startupError = (
  what: string,
  cause: unknown,
  output: string,
  files: Readonly<Record<string, string>>,
): Error => {
  const reason = cause instanceof Error ? cause.message : String(cause)
  const sections = [
    `${what} did not start: ${reason}`,
    `--- daemon output ---\n${output.trim() || "(none)"}`,
    ...Object.entries(files).map(([name, text]) => `--- generated ${name} ---\n${numbered(text.trimEnd())}`),
  ]
  return new Error(sections.join("\n"))
}

export interface Instance {
  /** The daemons started so far, in start order. */
  readonly daemons: ReadonlyArray<Daemon>
  /** Adds a started daemon to the instance. */
  readonly add: (daemon: Daemon) => void
  /** Stops the daemons (last started first) and removes the dir. Idempotent. */
  readonly stop: () => Promise<void>
}

/**
 * Ties the instance dir's life to its daemons: it goes when the last one exits, whether through
 * `stop()` or the lab closing.
 */
export const manageInstance = (dir: string): Instance => {
  const daemons: Array<Daemon> = []
  const removeDir = () => rmSync(dir, { recursive: true, force: true })
  return {
    daemons,
    add: (daemon) => {
      daemons.push(daemon)
      void daemon.process.exited.then(() => {
        if (daemons.every((d) => hasExited(d.process))) removeDir()
      })
    },
    stop: async () => {
      // Clients (bgpd) before the daemons they depend on (zebra).
      for (const d of [...daemons].reverse()) await d.process.stop()
      removeDir()
    },
  }
}

/**
 * Polls `probe` until it gives a value, failing early when any daemon exits and after `timeoutMs`
 * otherwise. The probe may throw; the last error ends up in the timeout message.
 */
export const waitReady = async <A>(
  what: string,
  daemons: ReadonlyArray<Daemon>,
  probe: () => Promise<A | undefined>,
  timeoutMs: number,
): Promise<A> => {
  const result = await eventually<{ readonly ok: A } | { readonly exited: string }>(
    what,
    async () => {
      const dead = daemons.find((d) => hasExited(d.process))
      if (dead !== undefined) {
        const { exitCode, signalCode } = dead.process.child
        return { exited: `${dead.name} exited (${signalCode ?? `code ${exitCode}`})` }
      }
      const value = await probe()
      return value === undefined ? undefined : { ok: value }
    },
    { timeoutMs, intervalMs: 100 },
  )
  if ("exited" in result) throw new Error(result.exited)
  return result.ok
}

/** Neighbor states in the order the config lists the neighbors (daemons report them in their own order). */
export const inConfigOrder = (config: RouterConfig, neighbors: ReadonlyArray<NeighborStatus>): Array<NeighborStatus> => {
  const rank = (status: NeighborStatus) => {
    const i = config.neighbors.findIndex((n) => sameAddress(n.address, status.address))
    return i === -1 ? config.neighbors.length : i
  }
  return [...neighbors].sort((a, b) => rank(a) - rank(b))
}

/** True once `neighbors` lists every configured neighbor, i.e. the daemon has loaded its config. */
export const knowsAllNeighbors = (config: RouterConfig, neighbors: ReadonlyArray<NeighborStatus>): boolean =>
  config.neighbors.every((n) => neighbors.some((s) => sameAddress(s.address, n.address)))

// --- waiting on routers ---------------------------------------------------------------------

/** Waits until the session with `neighborAddress` is Established; the timeout error says where it was. */
export const waitEstablished = (router: BgpRouter, neighborAddress: string, timeoutMs = 30_000): Promise<NeighborStatus> =>
  eventually(
    `${router.kind} in ${router.host.name}: session with ${neighborAddress} Established`,
    async () => {
      const neighbor = (await router.neighbors()).find((n) => sameAddress(n.address, neighborAddress))
      if (neighbor === undefined) throw new Error(`no neighbor ${neighborAddress} configured`)
      if (neighbor.state === "Established") return neighbor
      throw new Error(`state ${neighbor.state}${neighbor.lastError === undefined ? "" : ` (last error: ${neighbor.lastError})`}`)
    },
    { timeoutMs },
  )

/** Waits until the router has a best path for `prefix` learned (from `neighbor`, if given) and returns it. */
export const waitForRoute = (
  router: BgpRouter,
  prefix: string,
  options: { readonly neighbor?: string; readonly timeoutMs?: number } = {},
): Promise<LearnedRoute> => {
  const wanted = canonicalPrefix(prefix)
  return eventually(
    `${router.kind} in ${router.host.name}: route ${prefix}${options.neighbor === undefined ? "" : ` from ${options.neighbor}`}`,
    async () => {
      const paths = (await router.routes()).filter(
        (r) =>
          canonicalPrefix(r.prefix) === wanted && (options.neighbor === undefined || sameAddress(r.neighbor, options.neighbor)),
      )
      const best = paths.find((r) => r.best)
      if (best === undefined && paths.length > 0) throw new Error(`${paths.length} path(s), none best`)
      return best
    },
    { timeoutMs: options.timeoutMs ?? 30_000 },
  )
}

/** Waits until the router's BFD session with `peer` is Up. */
export const waitBfdUp = (router: BfdRouter, peer: string, timeoutMs = 30_000): Promise<BfdSession> =>
  eventually(
    `${router.kind} in ${router.host.name}: BFD session with ${peer} Up`,
    async () => {
      const session = (await router.bfdSessions()).find((s) => sameAddress(s.peer, peer))
      if (session === undefined) throw new Error(`no BFD session with ${peer}`)
      if (session.state === "Up") return session
      throw new Error(`BFD state ${session.state}`)
    },
    { timeoutMs },
  )
