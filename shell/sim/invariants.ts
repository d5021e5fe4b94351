// The simulator's invariants as pure functions over plain observations of the world (what the
// speakers claim and see, the Services and their status, the controller's allocator, the router's
// RIB, a frame on the segment). The world observes its actors and calls these; tests call them with
// crafted observations to show that every one fires on the bug it guards against.
import { HashMap, Result } from "effect"
import type { Config } from "../../core/config/config.ts"
import type { ServiceView } from "../../core/controller/service.ts"
import { type Allocator, poolStats } from "../../core/ipam/allocator.ts"
import { decodeFrame } from "../../core/l2/frame.ts"
import { type Address, formatAddress } from "../../core/net/address.ts"
import { formatPrefix } from "../../core/net/prefix.ts"
import { bgpAnnouncements } from "../../core/speaker/bgp.ts"
import type { ClusterSnapshot } from "../../core/speaker/view.ts"
import type { Expectations } from "./scenario.ts"

export type Invariant =
  | "sharing"
  | "statusMatchesAllocator"
  | "singleL2Owner"
  | "leaverSilent"
  | "routesMatchAdvertisements"
  | "servicesAssigned"
  | "membershipConverges"
  | "expectation"
  | "boundedWork"

/** A violated invariant as a checker reports it; the world stamps it with the virtual time. */
export interface Finding {
  readonly invariant: Invariant
  readonly detail: string
}

/** What one checker did: how many times it applied (0 when its precondition did not hold) and what it found. */
export interface Check {
  readonly checked: number
  readonly findings: ReadonlyArray<Finding>
}

const notApplicable: Check = { checked: 0, findings: [] }
const checked = (findings: ReadonlyArray<Finding>, times = 1): Check => ({ checked: times, findings })

/** A speaker as the checkers see it. */
export interface SpeakerObservation {
  readonly name: string
  /** The machine is up. */
  readonly up: boolean
  /** The speaker process runs. */
  readonly running: boolean
  /** Left the membership and hands over; still answering until it stops. */
  readonly terminating: boolean
  /** The addresses it answers for. */
  readonly claimed: ReadonlyArray<Address>
  /** The members its membership counts as live (itself included). */
  readonly members: ReadonlySet<string>
}

/** The controller as the checkers see it. */
export interface ControllerObservation {
  readonly alive: boolean
  /** A reconcile is due or the cluster changed since the last one: its writes are not all out yet. */
  readonly busy: boolean
  /** The configuration in force (undefined until a valid one was seen). */
  readonly config: Config | undefined
  readonly allocator: Allocator
}

/** Routes at a BGP peer: prefix -> the nodes it was learned from (or should be). */
export type Rib = ReadonlyMap<string, ReadonlyArray<string>>

const live = (speakers: ReadonlyArray<SpeakerObservation>) => speakers.filter((s) => s.running && s.up)

/** Every running speaker counts exactly the running speakers as members. */
export const membershipConverged = (speakers: ReadonlyArray<SpeakerObservation>): boolean => {
  const running = live(speakers)
  const names = new Set(running.map((s) => s.name))
  return running.every((s) => s.members.size === names.size && [...names].every((n) => s.members.has(n)))
}

/** An address is held by several services only with one sharing key and ports that do not overlap. */
export const checkSharing = (services: ReadonlyArray<ServiceView>): Check => {
  const holders = new Map<string, Array<{ key: string; sharing: string; ports: string[] }>>()
  for (const view of services) {
    for (const ip of view.ingressIPs) {
      holders.set(ip, [...(holders.get(ip) ?? []), {
        key: `${view.namespace}/${view.name}`,
        sharing: view.annotations["metallb.io/allow-shared-ip"] ?? "",
        ports: view.ports.map((p) => `${p.protocol ?? "TCP"}/${p.port}`),
      }])
    }
  }
  const findings: Array<Finding> = []
  for (const [ip, hs] of holders) {
    if (hs.length < 2) continue
    const key = hs[0]!.sharing
    const ports = hs.flatMap((h) => h.ports)
    if (key === "" || hs.some((h) => h.sharing !== key) || new Set(ports).size !== ports.length) {
      findings.push({ invariant: "sharing", detail: `${ip} held by ${hs.map((h) => h.key).join(", ")}` })
    }
  }
  return checked(findings)
}

/** Once the controller's writes are out, every Service's status holds exactly what the allocator gave it. */
export const checkStatusMatchesAllocator = (observation: {
  readonly controller: ControllerObservation
  readonly services: ReadonlyArray<ServiceView>
}): Check => {
  const { controller } = observation
  // A controller that restarted into an invalid configuration has nothing in force: it leaves every
  // status alone (services keep their addresses) until a valid configuration arrives.
  if (!controller.alive || controller.busy || controller.config === undefined) return notApplicable
  const findings: Array<Finding> = []
  for (const view of observation.services) {
    const key = `${view.namespace}/${view.name}`
    const status = [...view.ingressIPs].sort()
    const held = HashMap.get(controller.allocator.allocations, key)
    const allocated = held._tag === "Some" ? held.value.addresses.map(formatAddress).sort() : []
    if (JSON.stringify(status) !== JSON.stringify(allocated)) {
      findings.push({ invariant: "statusMatchesAllocator", detail: `${key}: status [${status}] allocator [${allocated}]` })
    }
  }
  return checked(findings)
}

/** How long after a fault the election must agree again once membership has converged. */
export const singleOwnerGraceMs = 2_000

/** One number per address of either family (IPv6 above 2^128), cheaper than its text on every sample. */
const ipv6Offset = 1n << 128n
const keyOf = (a: Address): bigint => (a.family === "ipv4" ? a.value : a.value + ipv6Offset)
const addressText = (key: bigint): string =>
  formatAddress(key >= ipv6Offset ? { family: "ipv6", value: key - ipv6Offset } : { family: "ipv4", value: key })

interface ClaimCounts {
  readonly owners: ReadonlyMap<bigint, number>
  readonly leaving: ReadonlyMap<bigint, number>
}

/** Sampling asks twice per observation (ownership figures and singleL2Owner): counted once. */
const countsOf = new WeakMap<ReadonlyArray<SpeakerObservation>, ClaimCounts>()

/** Per address, how many live speakers claim it: those handing over apart from the others. */
const claimCounts = (speakers: ReadonlyArray<SpeakerObservation>): ClaimCounts => {
  const known = countsOf.get(speakers)
  if (known !== undefined) return known
  const owners = new Map<bigint, number>()
  const leaving = new Map<bigint, number>()
  for (const s of live(speakers)) {
    // One speaker claiming a shared address for each of its services is still one owner.
    for (const key of new Set(s.claimed.map(keyOf))) {
      const counts = s.terminating ? leaving : owners
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
  }
  const counts = { owners, leaving }
  countsOf.set(speakers, counts)
  return counts
}

/** Once membership converged (and the last fault is 2 s old), no address has two live owners. */
export const checkSingleL2Owner = (observation: {
  readonly speakers: ReadonlyArray<SpeakerObservation>
  readonly msSinceLastFault: number
}): Check => {
  if (!membershipConverged(observation.speakers) || observation.msSinceLastFault <= singleOwnerGraceMs) return notApplicable
  const findings: Array<Finding> = []
  for (const [key, n] of claimCounts(observation.speakers).owners) {
    if (n > 1) findings.push({ invariant: "singleL2Owner", detail: `${addressText(key)} claimed by ${n} live speakers after membership converged` })
  }
  return checked(findings)
}

/** The service addresses announced in Layer 2 under the configuration: the ones somebody must own. */
export const layer2Addresses = (config: Config | undefined, addresses: ReadonlyArray<Address>): ReadonlyArray<Address> =>
  config === undefined ? [] : addresses.filter((a) => {
    const pool = [...config.pools.values()].find((p) => p.ranges.some((r) => r.family === a.family && a.value >= r.first && a.value <= r.last))
    return pool !== undefined && config.l2Advertisements.some((ad) => ad.pools.includes(pool.name))
  })

/** One sample of Layer 2 ownership: how many addresses have two owners, a hand-over in progress, or no owner. */
export interface OwnershipSample {
  readonly overlapping: number
  readonly handingOver: number
  readonly unowned: number
}

export const sampleOwnership = (observation: {
  readonly speakers: ReadonlyArray<SpeakerObservation>
  readonly addresses: ReadonlyArray<Address>
}): OwnershipSample => {
  const { owners, leaving } = claimCounts(observation.speakers)
  const anyRunning = live(observation.speakers).length > 0
  let overlapping = 0
  let handingOver = 0
  let unowned = 0
  for (const a of observation.addresses) {
    const n = owners.get(keyOf(a)) ?? 0
    const old = leaving.get(keyOf(a)) ?? 0
    if (n > 1) overlapping += 1
    // A graceful hand-over overlaps on purpose: the leaving speaker answers until the new one has announced.
    if (n >= 1 && old > 0) handingOver += 1
    if (n + old === 0 && anyRunning) unowned += 1
  }
  return { overlapping, handingOver, unowned }
}

/** The address a frame announces unasked (a gratuitous ARP or an unsolicited NA), if it is such a frame. */
export const announcedAddress = (frame: Uint8Array): string | undefined => {
  const decoded = decodeFrame(frame)
  if (Result.isFailure(decoded)) return undefined
  const f = decoded.success
  if (f._tag === "ArpFrame") return formatAddress(f.arp.senderIp) === formatAddress(f.arp.targetIp) ? formatAddress(f.arp.senderIp) : undefined
  return f.ndp._tag === "NeighborAdvertisement" && !f.ndp.solicited ? formatAddress(f.ndp.target) : undefined
}

/**
 * A speaker handing over answers requests until it stops, but announces nothing: a gratuitous ARP or an
 * unsolicited NA of its own would pull the neighbours back from the new owner just before it goes away.
 */
export const checkLeaverSilent = (observation: {
  readonly from: string
  readonly terminating: boolean
  readonly frame: Uint8Array
}): Check => {
  if (!observation.terminating) return notApplicable
  const address = announcedAddress(observation.frame)
  if (address === undefined) return checked([])
  return checked([{ invariant: "leaverSilent", detail: `${observation.from} announced ${address} while handing over` }])
}

/** The routes `peer` should hold: each announcing node's advertisements under the configuration. */
export const desiredRoutes = (config: Config, snapshot: ClusterSnapshot, announcing: ReadonlyArray<string>, peer: string): Rib => {
  const desired = new Map<string, Array<string>>()
  for (const name of announcing) {
    const node = snapshot.nodes.find((n) => n.name === name)
    if (node === undefined) continue
    for (const route of bgpAnnouncements(config, snapshot, node).get(peer) ?? []) {
      const p = formatPrefix(route.prefix)
      desired.set(p, [...(desired.get(p) ?? []), name])
    }
  }
  return desired
}

/** A RIB as canonical text: prefixes sorted, each with its nodes sorted. */
export const ribText = (rib: Rib): string =>
  JSON.stringify([...rib.entries()].map(([p, ns]) => [p, [...ns].sort()]).sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)))

/** ribText(a) === ribText(b), without building either text (asked every 250 ms of every run). */
export const sameRoutes = (a: Rib, b: Rib): boolean => {
  if (a.size !== b.size) return false
  for (const [prefix, nodes] of a) {
    const other = b.get(prefix)
    if (other === undefined || other.length !== nodes.length) return false
    if (nodes.every((n, i) => n === other[i])) continue
    const x = [...nodes].sort()
    const y = [...other].sort()
    if (!x.every((n, i) => n === y[i])) return false
  }
  return true
}

/** Once settled, the router holds exactly the routes the live, reachable nodes advertise. */
export const checkRoutesMatchAdvertisements = (observation: {
  readonly settled: boolean
  readonly router: { readonly up: boolean; readonly rib: Rib } | undefined
  /** Undefined while no valid configuration is known. */
  readonly desired: Rib | undefined
}): Check => {
  const { router, desired } = observation
  if (!observation.settled || router === undefined || !router.up || desired === undefined) return notApplicable
  if (sameRoutes(router.rib, desired)) return checked([])
  return checked([{ invariant: "routesMatchAdvertisements", detail: `router ${ribText(router.rib)} desired ${ribText(desired)}` }])
}

/**
 * Once settled, every Service holds an address unless no default pool could serve it (with
 * expectAllAssigned, every Service holds one).
 */
export const checkServicesAssigned = (observation: {
  readonly settled: boolean
  readonly controller: ControllerObservation
  readonly services: ReadonlyArray<ServiceView>
  readonly expectAllAssigned: boolean
}): Check => {
  const { controller } = observation
  if (!observation.settled || !controller.alive || controller.config === undefined) return notApplicable
  const pools = [...controller.config.pools.values()].filter((p) => p.autoAssign && p.serviceAllocation === undefined)
  const findings: Array<Finding> = []
  for (const view of observation.services) {
    if (view.ingressIPs.length > 0) continue
    // Satisfiable: some default pool still has a free address of every family the service needs.
    const families = view.clusterIPs.map((ip) => (ip.includes(":") ? "ipv6" : "ipv4") as "ipv4" | "ipv6")
    const satisfiable = pools.some((p) => {
      const stats = poolStats(controller.allocator, p.name)
      return stats !== undefined && families.every((f) => stats.available[f] > 0n)
    })
    if (satisfiable || observation.expectAllAssigned) {
      findings.push({ invariant: "servicesAssigned", detail: `${view.namespace}/${view.name} has no address although a pool has room` })
    }
  }
  return checked(findings)
}

/** How long after the last fault the running speakers must be one membership again. */
export const membershipSettleMs = 10_000

/**
 * Whatever happened, the running speakers are one membership again once the faults are over: a
 * partition whose sides each kept live members used to stay split for good (Layer 2 split brain).
 */
export const checkMembershipConverges = (observation: {
  readonly speakers: ReadonlyArray<SpeakerObservation>
  readonly msSinceLastFault: number
}): Check => {
  const running = live(observation.speakers)
  if (observation.msSinceLastFault < membershipSettleMs || running.length === 0) return notApplicable
  if (membershipConverged(observation.speakers)) return checked([])
  const views = running.map((s) => `${s.name} sees ${[...s.members].sort().join(",")}`).join("; ")
  return checked([{ invariant: "membershipConverges", detail: `${(membershipSettleMs / 1000).toFixed(0)} s after the last fault: ${views}` }])
}

/** A measured failover of one address (see world.ts). */
export interface MeasuredFailover {
  readonly node: string
  readonly address: string
  readonly announceMs?: number
  readonly outageMs?: number
}

/** The scenario's figures: every failover and every BGP convergence within its limits. */
export const checkExpectations = (observation: {
  readonly expect: Expectations
  readonly failovers: ReadonlyArray<MeasuredFailover>
  readonly bgpConvergenceMs: ReadonlyArray<number>
}): Check => {
  let times = 0
  const findings: Array<Finding> = []
  const expectation = (what: string, value: number | undefined, limit: number | undefined) => {
    if (limit === undefined) return
    times += 1
    if (value === undefined || value > limit) {
      findings.push({ invariant: "expectation", detail: `${what}: ${value === undefined ? "never" : `${Math.round(value)} ms`} (limit ${limit} ms)` })
    }
  }
  const { expect } = observation
  for (const f of observation.failovers) {
    expectation(`announcement of ${f.address} after ${f.node} failed`, f.announceMs, expect.maxAnnounceMs)
    expectation(`client outage of ${f.address} after ${f.node} failed`, f.outageMs ?? 0, expect.maxOutageMs)
  }
  for (const ms of observation.bgpConvergenceMs) expectation("BGP convergence after a fault", ms, expect.maxBgpConvergenceMs)
  return checked(findings, times)
}

/**
 * Events a run may take per virtual ms, per node and per Service: a quiet node's membership, link and
 * timers cost about 0.1 per ms, and a Service its announcements, the client's probes and, at the start,
 * one ARP request to every node; the bound leaves a factor of 20 or more over the busiest runs seen
 * (random sweeps, the 100-node scenario), so it stays a detector of runaway loops, not of load.
 */
export const maxEventsPerNodeMs = 5
export const maxEventsPerServiceMs = 0.5
const withinBound: Check = { checked: 1, findings: [] }

/** The events a run of this size and length may take. */
export const eventBound = (size: { readonly nodes: number; readonly services: number; readonly durationMs: number }): number =>
  Math.ceil(size.durationMs * (maxEventsPerNodeMs * size.nodes + maxEventsPerServiceMs * size.services))

/** A bound on the work of one run: a protocol stuck in a zero-delay loop is a finding, not a hang (the run stops). */
export const checkBoundedWork = (observation: { readonly events: number; readonly maxEvents: number; readonly nowMs: number }): Check => {
  if (observation.events <= observation.maxEvents) return withinBound
  return checked([{ invariant: "boundedWork", detail: `more than ${observation.maxEvents} events by ${(observation.nowMs / 1000).toFixed(3)}s: a runaway loop` }])
}
