// A speaker's Layer 2 links, watched: which interfaces the plane uses (MetalLB's 10 s rescan), which
// of them have lost their link (polled every 250 ms), and what follows for the election.
//  - A link that is down, or an interface an L2Advertisement names that this node lacks, goes into the
//    membership metadata (core/speaker/links.ts): every node's election passes this one over for the
//    addresses it could announce only there.
//  - When every link is down this node can reach nobody: it leaves the membership (the others elect new
//    owners and announce) and rejoins when a link comes back. Until another member answers (or 3 s pass)
//    it then holds back: its table is the one from the isolation, where everybody else looked dead, and
//    deciding from it would claim every address and pull the clients here.
import { readFileSync } from "node:fs"
import { Effect, Schedule, type Scope } from "effect"
import type { Mac } from "../../core/l2/mac.ts"
import { linkReport } from "../../core/speaker/links.ts"
import { type InterfaceInfo, usableForL2 } from "../../core/speaker/interfaces.ts"
import { defaultExcludePatterns } from "../../core/speaker/settings.ts"
import { readInterfaces } from "./interfaces.ts"
import type { L2Plane } from "./l2-plane.ts"
import type { MembershipDriver } from "./membership.ts"

export interface LinkWatchOptions {
  readonly nodeName: string
  readonly excludePatterns?: ReadonlyArray<string> | undefined
  readonly plane: L2Plane
  /** Created after the watch; undefined when membership is off. */
  readonly membership: () => MembershipDriver | undefined
  readonly seeds: ReadonlyArray<string>
  /** The interfaces the L2Advertisements name (core/speaker/links.ts namedInterfaces). */
  readonly namedInterfaces: () => ReadonlyArray<string>
  /** Something the election depends on changed: decide again. */
  readonly changed: () => void
}

export interface LinkWatch {
  /** The interfaces in use (a watched one may be down). */
  readonly usable: () => ReadonlyArray<InterfaceInfo>
  /** Those whose link is up. */
  readonly upNames: () => ReadonlyArray<string>
  /** Announce nothing now (every link down, or just rejoined: see the header). */
  readonly holding: (liveMembers: number) => boolean
  /** Polls and rescans until the scope closes. */
  readonly run: Effect.Effect<void, never, Scope.Scope>
}

const pollMs = 250
const rescanEveryPolls = 40
const rejoinHoldMs = 3_000

const linkUp = (name: string) => {
  try {
    const state = readFileSync(`/sys/class/net/${name}/operstate`, "utf8").trim()
    return state === "up" || state === "unknown"
  } catch {
    return false
  }
}

export const makeLinkWatch = (initial: ReadonlyArray<InterfaceInfo>, options: LinkWatchOptions): LinkWatch => {
  const { nodeName } = options
  let usable = initial
  let linksDown: ReadonlyArray<string> = []
  let missingNamed: ReadonlyArray<string> = []
  let dataPathDown = false
  let rejoinedAtMs: number | undefined
  const warn = (message: string) => Effect.runFork(Effect.logWarning(`speaker ${nodeName}: ${message}`))

  // One that is only taken down stays watched: it is a link that is down, not a gone interface.
  const rescan = Effect.gen(function* () {
    const watched = new Set(usable.map((i) => i.name))
    const next = usableForL2(readInterfaces().map((i) => (watched.has(i.name) ? { ...i, up: true } : i)), options.excludePatterns ?? defaultExcludePatterns)
    const key = (list: ReadonlyArray<InterfaceInfo>) => list.map((i) => `${i.name}/${i.mac}`).join(" ")
    if (key(next) === key(usable)) return
    yield* Effect.logInfo(`speaker ${nodeName}: Layer 2 on ${next.map((i) => i.name).join(", ") || "no interface"} (was ${usable.map((i) => i.name).join(", ") || "none"})`)
    usable = next
    yield* options.plane.setInterfaces(next.map((i) => ({ name: i.name, mac: i.mac as Mac })))
    options.changed()
  })

  const poll = Effect.sync(() => {
    const report = linkReport(usable.map((i) => i.name), new Set(usable.filter((i) => linkUp(i.name)).map((i) => i.name)), options.namedInterfaces())
    const { down, missing } = report
    const linksChanged = down.join(" ") !== linksDown.join(" ")
    if (!linksChanged && missing.join(" ") === missingNamed.join(" ")) return
    for (const name of missing.filter((n) => !missingNamed.includes(n))) {
      warn(`an L2Advertisement names interface ${name}, which this node does not have or may not use: no candidate for the addresses announced only there`)
    }
    missingNamed = missing
    for (const name of down.filter((n) => !linksDown.includes(n))) warn(`Layer 2 interface ${name} down: not announcing on it`)
    for (const name of linksDown.filter((n) => !down.includes(n))) warn(`Layer 2 interface ${name} back up`)
    linksDown = down
    const membership = options.membership()
    // Before a leave, so that the Alive of the next join carries it.
    membership?.setDownInterfaces(report.reported)
    if (!linksChanged) return
    if (membership !== undefined && report.allDown !== dataPathDown) {
      dataPathDown = report.allDown
      if (dataPathDown) membership.leave()
      else {
        rejoinedAtMs = Date.now()
        membership.join(options.seeds)
        // Decide again once the hold can have expired, even if nothing else happens.
        Effect.runFork(Effect.sleep(`${rejoinHoldMs + 100} millis`).pipe(Effect.andThen(Effect.sync(options.changed))))
      }
      warn(`Layer 2 links ${dataPathDown ? "all down: leaving the membership" : "back: rejoining"}`)
    }
    options.changed()
  })

  let polls = 0
  return {
    usable: () => usable,
    upNames: () => usable.map((i) => i.name).filter((n) => !linksDown.includes(n)),
    holding: (liveMembers) => {
      if (dataPathDown) return true
      if (rejoinedAtMs === undefined) return false
      if (liveMembers > 1 || Date.now() - rejoinedAtMs >= rejoinHoldMs) rejoinedAtMs = undefined
      return rejoinedAtMs !== undefined
    },
    run: Effect.suspend(() => (++polls % rescanEveryPolls === 0 ? rescan : Effect.void)).pipe(
      Effect.andThen(poll),
      Effect.repeat(Schedule.spaced(`${pollMs} millis`)),
      Effect.asVoid,
      Effect.forkScoped,
      Effect.asVoid,
    ),
  }
}
