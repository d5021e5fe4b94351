// The resolved configuration: every metallb.io object decoded, validated, defaulted and cross-linked.
// This is what the controller and speaker compute with; nothing downstream re-parses YAML strings.
import type { Address } from "../net/address.ts"
import type { AddressRange, Prefix } from "../net/prefix.ts"
import type { ConfigError } from "./errors.ts"
import type { Selector } from "./selector.ts"

export interface ServiceAllocation {
  /** Lower is preferred; 0 means "no priority" and sorts last (MetalLB). */
  readonly priority: number
  readonly namespaces: ReadonlyArray<string>
  readonly namespaceSelectors: ReadonlyArray<Selector>
  readonly serviceSelectors: ReadonlyArray<Selector>
}

export interface Pool {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  /** Each spec.addresses entry as an inclusive range, in spec order (a CIDR is a range too). */
  readonly ranges: ReadonlyArray<AddressRange>
  /** The same addresses as CIDRs (ranges summarised), for overlap checks and aggregation. */
  readonly cidrs: ReadonlyArray<Prefix>
  readonly autoAssign: boolean
  readonly avoidBuggyIPs: boolean
  readonly serviceAllocation?: ServiceAllocation
}

export type BgpCommunity =
  | { readonly kind: "standard"; readonly asn: number; readonly value: number }
  | { readonly kind: "large"; readonly globalAdministrator: number; readonly localData1: number; readonly localData2: number }

export interface BfdProfile {
  readonly name: string
  readonly receiveIntervalMs: number
  readonly transmitIntervalMs: number
  readonly detectMultiplier: number
  readonly echoIntervalMs: number
  readonly echoMode: boolean
  readonly passiveMode: boolean
  readonly minimumTtl: number
}

export interface Peer {
  readonly name: string
  readonly myAsn: number
  /** Set unless dynamicAsn is. */
  readonly peerAsn?: number
  readonly dynamicAsn?: "internal" | "external"
  readonly localAsn?: number
  /** Set unless `interface` (BGP unnumbered) is. */
  readonly address?: Address
  readonly interface?: string
  readonly sourceAddress?: Address
  readonly port: number
  readonly holdTimeSeconds: number
  readonly keepaliveTimeSeconds: number
  readonly connectTimeSeconds?: number
  readonly routerId?: Address
  readonly nodeSelectors: ReadonlyArray<Selector>
  /** From `password` or the referenced basic-auth Secret. */
  readonly password?: string
  readonly bfdProfile?: string
  readonly enableGracefulRestart: boolean
  readonly ebgpMultiHop: boolean
  readonly vrf: string
  readonly disableMP: boolean
  readonly dualStackAddressFamily: boolean
}

export interface PreferredNodeSelector {
  readonly weight: number
  readonly selector: Selector
}

export interface L2Advertisement {
  readonly name: string
  /** Names of the pools it applies to (explicit and selected); every pool when neither is given. */
  readonly pools: ReadonlyArray<string>
  readonly nodeSelectors: ReadonlyArray<Selector>
  readonly interfaces: ReadonlyArray<string>
  readonly serviceSelectors: ReadonlyArray<Selector>
  readonly preferredNodeSelectors: ReadonlyArray<PreferredNodeSelector>
}

export interface BgpAdvertisement {
  readonly name: string
  readonly pools: ReadonlyArray<string>
  readonly aggregationLength: number
  readonly aggregationLengthV6: number
  readonly localPref?: number
  readonly communities: ReadonlyArray<BgpCommunity>
  readonly nodeSelectors: ReadonlyArray<Selector>
  /** Peer names; empty means every peer. */
  readonly peers: ReadonlyArray<string>
  readonly serviceSelectors: ReadonlyArray<Selector>
}

export interface Config {
  readonly pools: ReadonlyMap<string, Pool>
  readonly peers: ReadonlyMap<string, Peer>
  readonly bfdProfiles: ReadonlyMap<string, BfdProfile>
  readonly l2Advertisements: ReadonlyArray<L2Advertisement>
  readonly bgpAdvertisements: ReadonlyArray<BgpAdvertisement>
  readonly communityAliases: ReadonlyMap<string, BgpCommunity>
}

export type Resolution =
  | { readonly _tag: "Valid"; readonly config: Config; readonly warnings: ReadonlyArray<ConfigError> }
  | { readonly _tag: "Invalid"; readonly errors: ReadonlyArray<ConfigError>; readonly warnings: ReadonlyArray<ConfigError> }
