// A node's view of one member and SWIM's rule for which statement about a member wins (Das et al. 2002,
// §4.2, with memberlist's treatment of dead and left members). Per member, statements are ordered by
// incarnation, which only the member itself raises (to refute a suspicion, or when leaving):
//   Alive(i)   overrides anything held at an incarnation j < i (so a restarted node can come back);
//   Suspect(i) overrides Alive(j) when i >= j and Suspect(j) when i > j; it never revives dead/left;
//   Dead(i)    overrides Alive(j) and Suspect(j) when i >= j;
//   Left(i)    overrides Alive(j), Suspect(j) and Dead(j) when i >= j.
// "Dead overrides everything" (the paper's Confirm) holds at the incarnation it names; a Dead about an older
// incarnation than the one held is stale gossip and is dropped, which keeps a late retransmission from
// killing a node that has already refuted. Dead and left members stay as tombstones so that a stale Alive
// cannot resurrect them; a tombstone about a never-seen member has no address. A member's metadata (its
// down interfaces) comes with its Alive and stays while it is suspect; only a newer Alive changes it.
import type { Update } from "./messages.ts"

export type MemberStatus = "alive" | "suspect" | "dead" | "left"

export interface Member {
  readonly name: string
  /** Empty for a tombstone learnt before any Alive. */
  readonly address: string
  readonly status: MemberStatus
  readonly incarnation: number
  /** When this node adopted its current statement about the member. */
  readonly sinceMs: number
  /** Set while suspect: when the suspicion turns into Dead unless refuted. */
  readonly suspicionDeadlineMs?: number
  /** While alive or suspect: the member's Layer 2 interfaces that are down (metadata.ts), when any. */
  readonly downInterfaces?: ReadonlyArray<string>
}

export const isLive = (m: Member): boolean => m.status === "alive" || m.status === "suspect"

const downOf = (from: { readonly downInterfaces?: ReadonlyArray<string> }): { readonly downInterfaces?: ReadonlyArray<string> } =>
  from.downInterfaces === undefined || from.downInterfaces.length === 0 ? {} : { downInterfaces: from.downInterfaces }

export const supersedes = (current: Member | undefined, update: Update): boolean => {
  if (current === undefined) return update._tag !== "Suspect"
  const newer = update.incarnation > current.incarnation
  const notOlder = update.incarnation >= current.incarnation
  switch (update._tag) {
    case "Alive":
      return newer
    case "Suspect":
      return current.status === "alive" ? notOlder : current.status === "suspect" && newer
    case "Dead":
      return isLive(current) && notOlder
    case "Left":
      return current.status !== "left" && notOlder
  }
}

/** The member after an update that supersedes what was held. */
export const applyUpdate = (current: Member | undefined, update: Update, nowMs: number, suspicionTimeoutMs: number): Member => {
  const base = { name: update.name, incarnation: update.incarnation, sinceMs: nowMs }
  switch (update._tag) {
    case "Alive":
      return { ...base, address: update.address, status: "alive", ...downOf(update) }
    case "Suspect":
      return {
        ...base,
        address: current?.address ?? "",
        status: "suspect",
        suspicionDeadlineMs: nowMs + suspicionTimeoutMs,
        ...(current !== undefined && isLive(current) ? downOf(current) : {}),
      }
    case "Dead":
      return { ...base, address: current?.address ?? "", status: "dead" }
    case "Left":
      return { ...base, address: current?.address ?? "", status: "left" }
  }
}

/** The statement that reproduces this member elsewhere (for full-table exchanges and refutation hints). */
export const updateOf = (m: Member): Update => {
  switch (m.status) {
    case "alive":
      return { _tag: "Alive", name: m.name, incarnation: m.incarnation, address: m.address, ...downOf(m) }
    case "suspect":
      return { _tag: "Suspect", name: m.name, incarnation: m.incarnation }
    case "dead":
      return { _tag: "Dead", name: m.name, incarnation: m.incarnation }
    case "left":
      return { _tag: "Left", name: m.name, incarnation: m.incarnation }
  }
}

/**
 * A member in a full table. A suspect one goes as its last Alive followed by the suspicion: a Suspect alone
 * carries no address, and a receiver that does not know the member (a node that just started) drops it, so
 * a member that is merely suspected, still alive and maybe an address's owner, would be missing from a
 * joining node's first view and the joiner would elect itself in its place. A receiver holding the member
 * at that incarnation ends where the Suspect alone took it; one holding an older statement (dead or left
 * before the member came back) takes the Alive, newer than what it holds, and then the suspicion.
 */
export const tableUpdatesOf = (m: Member): ReadonlyArray<Update> =>
  m.status === "suspect" && m.address !== ""
    ? [{ _tag: "Alive", name: m.name, incarnation: m.incarnation, address: m.address, ...downOf(m) }, updateOf(m)]
    : [updateOf(m)]
