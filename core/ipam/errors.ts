// Why an IPAM operation was refused. Each error carries what a person (or the controller's event)
// needs: the pool, the address, the other services involved. Failing operations never change the
// allocator: every function returns a new value only on success.
import { Data } from "effect"
import type { Address, Family } from "../net/address.ts"
import type { Port } from "./service.ts"

export class UnknownPool extends Data.TaggedError("UnknownPool")<{ readonly pool: string }> {
  override get message() {
    return `unknown pool ${JSON.stringify(this.pool)}`
  }
}

export class IncompatiblePool extends Data.TaggedError("IncompatiblePool")<{
  readonly pool: string
  readonly service: string
  readonly reason: "namespace" | "serviceSelector"
}> {
  override get message() {
    return `pool ${JSON.stringify(this.pool)} does not serve ${this.service} (${this.reason === "namespace" ? "namespace not allowed" : "no serviceSelector matches"})`
  }
}

export class AddressNotInPool extends Data.TaggedError("AddressNotInPool")<{
  readonly address: Address
  readonly text: string
  /** The avoidBuggyIPs pool whose ranges hold the address but which refuses it as a .0/.255 address. */
  readonly avoidedBy?: string
}> {
  override get message() {
    return this.avoidedBy === undefined
      ? `${this.text} is not allowed in config: no pool contains it`
      : `${this.text} is not allowed in config: pool ${JSON.stringify(this.avoidedBy)} avoids .0/.255 addresses (avoidBuggyIPs)`
  }
}

export class AddressesInDifferentPools extends Data.TaggedError("AddressesInDifferentPools")<{ readonly texts: ReadonlyArray<string> }> {
  override get message() {
    return `addresses ${this.texts.join(", ")} must all come from one pool`
  }
}

export class AddressInUse extends Data.TaggedError("AddressInUse")<{
  readonly text: string
  readonly by: ReadonlyArray<string>
  readonly reason: string
}> {
  override get message() {
    return `${this.text} is in use by ${this.by.join(", ")}: ${this.reason}`
  }
}

export class PortConflict extends Data.TaggedError("PortConflict")<{
  readonly text: string
  readonly port: Port
  readonly by: string
}> {
  override get message() {
    return `port ${this.port.protocol}/${this.port.port} is already in use on ${this.text} by ${this.by}`
  }
}

export class FamilyMismatch extends Data.TaggedError("FamilyMismatch")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/**
 * The service already holds addresses of other families than it now asks for (MetalLB's "IP for
 * wrong family assigned"): allocation hands nothing back; the controller releases and allocates anew.
 */
export class WrongFamilyHeld extends Data.TaggedError("WrongFamilyHeld")<{
  readonly service: string
  readonly held: ReadonlyArray<string>
  readonly heldFamilies: ReadonlyArray<Family>
  readonly wanted: ReadonlyArray<Family>
}> {
  override get message() {
    return `${this.service} holds ${this.held.join(", ")} (${this.heldFamilies.join("+")}) but asks for ${this.wanted.join("+")}: ` +
      "release it before allocating again"
  }
}

export class PoolExhausted extends Data.TaggedError("PoolExhausted")<{
  /** Undefined when every candidate pool was tried. */
  readonly pool?: string
  readonly families: ReadonlyArray<Family>
}> {
  override get message() {
    return this.pool === undefined
      ? `no available IPs (${this.families.join("+")}) in any pool for this service`
      : `no available IPs in pool ${JSON.stringify(this.pool)} for ${this.families.join("+")}`
  }
}

export class NotEnoughClusterIPs extends Data.TaggedError("NotEnoughClusterIPs")<{ readonly policy: string; readonly count: number }> {
  override get message() {
    return `ipFamilyPolicy ${this.policy} needs a ClusterIP of each family, the service has ${this.count}`
  }
}

export type IpamError =
  | UnknownPool
  | IncompatiblePool
  | AddressNotInPool
  | AddressesInDifferentPools
  | AddressInUse
  | PortConflict
  | FamilyMismatch
  | WrongFamilyHeld
  | PoolExhausted
  | NotEnoughClusterIPs
