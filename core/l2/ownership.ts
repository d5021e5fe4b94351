// Which addresses this node answers for, and on which interfaces: the one input the responder and
// the announcer share. The speaker's election decides ownership (MetalLB §4: one node per IP, on the
// interfaces its L2Advertisements select); this module only records it. An address is owned per
// interface, so a request arriving on an interface the advertisement does not select is not answered.
import { LayeredMap } from "../collections/layered-map.ts"
import type { Address } from "../net/address.ts"
import type { Mac } from "./mac.ts"

export interface L2Interface {
  readonly name: string
  readonly mac: Mac
}

/** Ownership taken (owned) or lost (!owned) for one address on one interface, at nowMs. */
export interface OwnershipChanged {
  readonly _tag: "OwnershipChanged"
  readonly address: Address
  readonly iface: L2Interface
  readonly owned: boolean
  readonly nowMs: number
}

/** A Map key for an address; cheap because the responder computes one per received frame. */
export const addressKey = (address: Address): string => `${address.family}/${address.value.toString(16)}`

export interface OwnedAddress {
  readonly address: Address
  /** Interface names. */
  readonly interfaces: ReadonlySet<string>
}

export type Ownership = ReadonlyMap<string, OwnedAddress>

export const noOwnership: Ownership = LayeredMap.of([])

/** A change costs O(sqrt n), not a copy of every owned address (a node takes over thousands at once: issue 17). */
export const applyOwnershipChange = (ownership: Ownership, change: OwnershipChanged): Ownership => {
  const key = addressKey(change.address)
  const current = ownership.get(key)?.interfaces ?? new Set<string>()
  if (current.has(change.iface.name) === change.owned) return ownership
  const interfaces = new Set(current)
  if (change.owned) interfaces.add(change.iface.name)
  else interfaces.delete(change.iface.name)
  const layered = ownership instanceof LayeredMap ? ownership : LayeredMap.of(ownership)
  return layered.with([[key, interfaces.size === 0 ? undefined : { address: change.address, interfaces }]])
}

export type OwnershipOnInterface = "owned" | "ownedElsewhere" | "notOwned"

export const ownershipOn = (ownership: Ownership, address: Address, ifaceName: string): OwnershipOnInterface => {
  const entry = ownership.get(addressKey(address))
  if (entry === undefined) return "notOwned"
  return entry.interfaces.has(ifaceName) ? "owned" : "ownedElsewhere"
}
