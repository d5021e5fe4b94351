// Test hosts as Linux network namespaces: hosts, veth links, bridge segments and processes inside them.
// Everything a Lab creates carries its unique prefix and is removed by `close()` (or `await using`),
// also when the test fails; `sweepStaleLabs()` removes what a killed test run left behind.
// Addresses come from TESTBED.md's documentation ranges only; `assertTestAddress` enforces that.
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { promisify } from "node:util"
import ipaddr from "ipaddr.js"

const execFileAsync = promisify(execFile)

const labPrefix = "mlbt"
const netnsDir = "/var/run/netns"
const sysfsNet = "/sys/class/net"

export const isRoot = (): boolean => process.getuid?.() === 0

/** Why root-only tests skip on this machine, or undefined when they can run. */
export const rootSkipReason = (): string | undefined => {
  if (!isRoot()) return "needs root for network namespaces (CI runs as root)"
  if (!existsSync("/usr/sbin/ip") && !existsSync("/sbin/ip") && !existsSync("/usr/bin/ip")) {
    return "needs iproute2 (`ip`)"
  }
  return undefined
}

const testRanges: ReadonlyArray<[ipaddr.IPv4 | ipaddr.IPv6, number]> = [
  "192.0.2.0/24",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "198.18.0.0/15",
  "2001:db8::/32",
].map((cidr) => ipaddr.parseCIDR(cidr))

/** Throws unless `address` (with or without a prefix length) lies in a range TESTBED.md allows. */
export const assertTestAddress = (address: string): void => {
  const ip = ipaddr.parse(address.split("/")[0] ?? "")
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).range() === "linkLocal") return
  const ok = testRanges.some(([net, len]) => net.kind() === ip.kind() && ip.match([net, len] as never))
  if (!ok) throw new Error(`address ${address} is outside the testbed's documentation ranges (TESTBED.md)`)
}

export interface RunResult {
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to completion; a non-zero exit throws an error carrying its stderr. */
export const run = async (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly timeoutMs?: number; readonly input?: string } = {},
): Promise<RunResult> => {
  try {
    const { stdout, stderr } = await execFileAsync(command, [...args], {
      timeout: options.timeoutMs ?? 30_000,
      maxBuffer: 64 * 1024 * 1024,
      encoding: "utf8",
    })
    return { stdout, stderr }
  } catch (cause) {
    const err = cause as { stderr?: string; stdout?: string; code?: number | string; signal?: string }
    throw new Error(
      `\`${command} ${args.join(" ")}\` failed (${err.signal ?? err.code}): ${(err.stderr || err.stdout || String(cause)).trim()}`,
    )
  }
}

const ip = (...args: ReadonlyArray<string>) => run("ip", args)

/** A process started in a host; `stop()` terminates it (SIGTERM, then SIGKILL after a grace period). */
export interface HostProcess {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
  readonly stop: () => Promise<void>
}

export interface Host {
  /** The namespace name (`ip netns exec <netns>`). */
  readonly netns: string
  /** The path of the namespace file, for setns(2). */
  readonly netnsPath: string
  readonly name: string
  readonly lab: Lab
  /** Runs a command inside the namespace to completion. */
  readonly run: (command: string, args?: ReadonlyArray<string>, options?: { readonly timeoutMs?: number }) => Promise<RunResult>
  /** Starts a long-running command inside the namespace; stopped at the latest when the lab closes. */
  readonly spawn: (command: string, args?: ReadonlyArray<string>, options?: SpawnOptions) => HostProcess
  /** Adds an address (with prefix length) to an interface of this host. */
  readonly addAddress: (interfaceName: string, cidr: string) => Promise<void>
  /** The interface's MAC address. */
  readonly mac: (interfaceName: string) => Promise<string>
}

export interface SpawnOptions {
  readonly env?: Readonly<Record<string, string>>
  readonly cwd?: string
}

export interface LinkOptions {
  /** Interface name on side a (default `eth<n>`). */
  readonly aName?: string
  readonly bName?: string
  /** Addresses with prefix length, e.g. `192.0.2.1/24`. */
  readonly aAddresses?: ReadonlyArray<string>
  readonly bAddresses?: ReadonlyArray<string>
}

export interface Segment {
  readonly name: string
  /** The namespace holding the bridge. */
  readonly host: Host
  readonly bridge: string
}

let labCounter = 0
let rootLinkCounter = 0

/** Root-namespace links a lab made: `mlbt<pid>r<n>` (at most 15 characters), so a sweep knows the owner. */
const rootLinkPattern = /^mlbt(\d+)r\d+$/

/**
 * A set of namespaces, links and processes with one unique prefix. Create with `Lab.create(label)`;
 * close with `await lab.close()` or `await using lab = await Lab.create(...)`.
 */
export class Lab {
  readonly prefix: string
  readonly hosts: Array<Host> = []
  private readonly processes = new Set<HostProcess>()
  private readonly rootLinks: Array<string> = []
  private readonly interfaceCounts = new Map<string, number>()
  private portCounter = 0
  private closed = false

  private constructor(prefix: string) {
    this.prefix = prefix
  }

  static async create(label: string): Promise<Lab> {
    const reason = rootSkipReason()
    if (reason !== undefined) throw new Error(`Lab.create: ${reason}`)
    await sweepStaleLabs()
    labCounter += 1
    const safeLabel = label.toLowerCase().replace(/[^a-z0-9]+/g, "").slice(0, 12) || "lab"
    return new Lab(`${labPrefix}-${process.pid}-${labCounter}-${safeLabel}`)
  }

  /** Creates a host: a new namespace with loopback up and IPv6 DAD off (addresses usable at once). */
  async host(name: string): Promise<Host> {
    this.assertOpen()
    const netns = `${this.prefix}-${name}`
    await ip("netns", "add", netns)
    const host = makeHost(this, name, netns, (p) => this.processes.add(p))
    this.hosts.push(host)
    await host.run("ip", ["link", "set", "lo", "up"])
    await host.run("sysctl", ["-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"])
    return host
  }

  /**
   * A host for a namespace another process made and owns (the shared cluster's): what is spawned in
   * it stops when this lab closes; the namespace itself stays.
   */
  adopt(netns: string, name: string): Host {
    this.assertOpen()
    return makeHost(this, name, netns, (p) => this.processes.add(p))
  }

  /** A veth pair between two hosts, both ends up, with the given addresses. */
  async link(a: Host, b: Host, options: LinkOptions = {}): Promise<{ readonly aName: string; readonly bName: string }> {
    this.assertOpen()
    const aName = options.aName ?? this.nextInterface(a)
    const bName = options.bName ?? this.nextInterface(b)
    await ip("link", "add", aName, "netns", a.netns, "type", "veth", "peer", "name", bName, "netns", b.netns)
    await a.run("ip", ["link", "set", aName, "up"])
    await b.run("ip", ["link", "set", bName, "up"])
    for (const cidr of options.aAddresses ?? []) await a.addAddress(aName, cidr)
    for (const cidr of options.bAddresses ?? []) await b.addAddress(bName, cidr)
    return { aName, bName }
  }

  /** A broadcast segment: a bridge in a namespace of its own, to which hosts attach. */
  async segment(name: string): Promise<Segment> {
    const host = await this.host(`seg-${name}`)
    await host.run("ip", ["link", "add", "br0", "type", "bridge"])
    // No STP forwarding delay: ports forward as soon as they are up.
    await host.run("ip", ["link", "set", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0"])
    await host.run("ip", ["link", "set", "br0", "up"])
    return { name, host, bridge: "br0" }
  }

  /** Attaches a host to a segment through a veth pair; returns the host-side interface name. */
  async attach(host: Host, segment: Segment, options: { readonly name?: string; readonly addresses?: ReadonlyArray<string> } = {}): Promise<string> {
    const port = `p${++this.portCounter}`
    const { aName } = await this.link(host, segment.host, {
      ...(options.name === undefined ? {} : { aName: options.name }),
      bName: port,
      ...(options.addresses === undefined ? {} : { aAddresses: options.addresses }),
    })
    await segment.host.run("ip", ["link", "set", port, "master", segment.bridge])
    return aName
  }

  /**
   * Connects the root namespace (where the test runs, and e.g. an API server listens) to a segment
   * through a veth pair: the root end is named `mlbt<pid>r<n>`, carries `addresses` (IPv4 only: IPv6
   * is switched off on it, so the root namespace sends nothing of its own onto the segment) and is
   * deleted by `close()` (deleting the segment's namespace would delete it too). Returns its name.
   */
  async attachRoot(segment: Segment, options: { readonly addresses?: ReadonlyArray<string> } = {}): Promise<string> {
    this.assertOpen()
    for (const cidr of options.addresses ?? []) {
      assertTestAddress(cidr)
      if (cidr.includes(":")) throw new Error(`attachRoot: IPv4 addresses only (${cidr})`)
    }
    const name = `mlbt${process.pid}r${++rootLinkCounter}`
    const port = `p${++this.portCounter}`
    await ip("link", "add", name, "type", "veth", "peer", "name", port, "netns", segment.host.netns)
    this.rootLinks.push(name)
    await run("sysctl", ["-qw", `net.ipv6.conf.${name}.disable_ipv6=1`])
    await segment.host.run("ip", ["link", "set", port, "master", segment.bridge])
    await segment.host.run("ip", ["link", "set", port, "up"])
    for (const cidr of options.addresses ?? []) await ip("address", "add", cidr, "dev", name)
    await ip("link", "set", name, "up")
    return name
  }

  /** Stops every process and deletes every namespace (which deletes their links). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.allSettled([...this.processes].map((p) => p.stop()))
    await Promise.allSettled(this.rootLinks.map((name) => ip("link", "delete", name)))
    await Promise.allSettled(this.hosts.map((h) => deleteNamespace(h.netns)))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  private nextInterface(host: Host): string {
    const n = this.interfaceCounts.get(host.netns) ?? 0
    this.interfaceCounts.set(host.netns, n + 1)
    return `eth${n}`
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`lab ${this.prefix} is closed`)
  }
}

const makeHost = (lab: Lab, name: string, netns: string, track: (p: HostProcess) => void): Host => {
  const host: Host = {
    netns,
    netnsPath: `${netnsDir}/${netns}`,
    name,
    lab,
    run: (command, args = [], options = {}) => run("ip", ["netns", "exec", netns, command, ...args], options),
    spawn: (command, args = [], options = {}) => {
      const p = spawnProcess(["ip", "netns", "exec", netns, command, ...args], options)
      track(p)
      return p
    },
    addAddress: async (interfaceName, cidr) => {
      assertTestAddress(cidr)
      const extra = cidr.includes(":") ? ["nodad"] : []
      await host.run("ip", ["address", "add", cidr, "dev", interfaceName, ...extra])
    },
    mac: async (interfaceName) => {
      const { stdout } = await host.run("ip", ["-j", "link", "show", interfaceName])
      const [link] = JSON.parse(stdout) as Array<{ address: string }>
      if (link === undefined) throw new Error(`no interface ${interfaceName} in ${netns}`)
      return link.address
    },
  }
  return host
}

const outputLimitBytes = 1024 * 1024

const spawnProcess = (argv: ReadonlyArray<string>, options: SpawnOptions): HostProcess => {
  const [command, ...args] = argv
  const child = spawn(command ?? "false", args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    // Own process group, so stop() reaches whatever the command forks.
    detached: true,
  })
  let output = ""
  const collect = (chunk: Buffer) => {
    if (output.length < outputLimitBytes) output += chunk.toString("utf8")
  }
  child.stdout?.on("data", collect)
  child.stderr?.on("data", collect)
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code))
    child.once("error", () => resolve(null))
  })
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return
    try {
      process.kill(-child.pid, signal)
    } catch {
      // already gone
    }
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    signalGroup("SIGTERM")
    const graceMs = 2_000
    const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)])
    if (timedOut) {
      signalGroup("SIGKILL")
      await exited
    }
  }
  return { child, output: () => output, exited, stop }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const deleteNamespace = async (netns: string) => {
  // Kill anything still running inside before deleting, so no process keeps it alive.
  try {
    const { stdout } = await run("ip", ["netns", "pids", netns])
    for (const pid of stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL")
      } catch {
        // already gone
      }
    }
  } catch {
    // namespace already gone
  }
  await ip("netns", "delete", netns).catch(() => undefined)
}

/** Whether a process with this pid exists (a zombie counts). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Removes namespaces and root-namespace links left by labs whose test process is no longer running. */
export const sweepStaleLabs = async (): Promise<void> => {
  const staleLinks = (existsSync(sysfsNet) ? readdirSync(sysfsNet) : []).filter((name) => {
    const match = rootLinkPattern.exec(name)
    return match !== null && !isAlive(Number(match[1]))
  })
  await Promise.allSettled(staleLinks.map((name) => ip("link", "delete", name)))
  if (!existsSync(netnsDir)) return
  const stale = readdirSync(netnsDir).filter((name) => {
    const match = /^mlbt-(\d+)-/.exec(name)
    return match !== null && !isAlive(Number(match[1]))
  })
  await Promise.allSettled(stale.map(deleteNamespace))
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export const eventually = async <A>(
  what: string,
  probe: () => Promise<A | undefined>,
  options: { readonly timeoutMs?: number; readonly intervalMs?: number } = {},
): Promise<A> => {
  const timeoutMs = options.timeoutMs ?? 30_000
  const intervalMs = options.intervalMs ?? 200
  const attempts = Math.ceil(timeoutMs / intervalMs)
  let lastError: unknown
  for (let i = 0; i < attempts; i++) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    await sleep(intervalMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`)
}
