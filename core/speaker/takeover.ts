// Which services this node has just taken over from a speaker that is gone (declared dead, or left), so
// the shell can time its failovers (metallb_ts_speaker_l2_takeover_seconds). The owner of every service
// is remembered from the previous decision; a service this node owns now whose previous owner was
// another node, no longer a member, is a takeover from that node. Moves for other reasons (a
// configuration or label change, endpoints, a down interface) are not failovers and are not counted.
import type { Election } from "../election/owner.ts"

export interface Takeover {
  readonly service: string
  /** The previous owner, now gone from the membership. */
  readonly from: string
}

export interface TakeoverStep {
  readonly takeovers: ReadonlyArray<Takeover>
  /** service -> owner, to pass as `previousOwners` next time. */
  readonly owners: ReadonlyMap<string, string>
}

export const takeoversOf = (
  previousOwners: ReadonlyMap<string, string>,
  elections: ReadonlyMap<string, Election>,
  nodeName: string,
  members: ReadonlySet<string> | undefined,
): TakeoverStep => {
  const owners = new Map<string, string>()
  const takeovers: Array<Takeover> = []
  for (const [service, election] of elections) {
    if (election.owner === undefined) continue
    owners.set(service, election.owner)
    const previous = previousOwners.get(service)
    if (election.owner !== nodeName || previous === undefined || previous === nodeName) continue
    // Without membership every node is always a candidate: nobody is ever gone.
    if (members !== undefined && !members.has(previous)) takeovers.push({ service, from: previous })
  }
  return { takeovers, owners }
}
