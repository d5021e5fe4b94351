// BGP-4 messages as data (RFC 4271 §4), with the capabilities and path attributes this speaker
// uses: multiprotocol IPv4/IPv6 unicast (RFC 4760), 4-octet ASNs (RFC 6793), route refresh (RFC 2918),
// graceful restart (RFC 4724), communities (RFC 1997) and large communities (RFC 8092). The codec turns
// bytes into these values and back; the session FSM and the RIB planner only ever see these values.
import type { Address, Family } from "../net/address.ts"
import type { Prefix } from "../net/prefix.ts"

/** Only unicast is spoken: (AFI 1 | 2, SAFI 1). */
export interface AddressFamily {
  readonly family: Family
}

export const afiOf = (family: Family): number => (family === "ipv4" ? 1 : 2)
export const safiUnicast = 1

export type Capability =
  | { readonly _tag: "Multiprotocol"; readonly family: Family }
  | { readonly _tag: "RouteRefresh" }
  | { readonly _tag: "FourOctetAsn"; readonly asn: number }
  | {
    readonly _tag: "GracefulRestart"
    /** The R bit: the sender has restarted. */
    readonly restarting: boolean
    readonly restartTimeSeconds: number
    readonly families: ReadonlyArray<{ readonly family: Family; readonly forwardingPreserved: boolean }>
  }
  /**
   * RFC 8950 §4 (Extended Next Hop Encoding, code 5): the sender accepts NLRI of (afi, safi) with a
   * next hop of nextHopAfi. Kept as numbers so entries for families not spoken here re-encode as sent.
   */
  | { readonly _tag: "ExtendedNextHop"; readonly entries: ReadonlyArray<ExtendedNextHopEntry> }
  | { readonly _tag: "UnknownCapability"; readonly code: number; readonly value: Uint8Array }

export interface ExtendedNextHopEntry {
  readonly afi: number
  readonly safi: number
  readonly nextHopAfi: number
}

/** The one entry this speaker uses: IPv4 unicast NLRI with an IPv6 next hop (RFC 8950 unnumbered). */
export const ipv4OverIpv6NextHop: ExtendedNextHopEntry = { afi: 1, safi: 1, nextHopAfi: 2 }

export interface Open {
  readonly _tag: "Open"
  /** The speaker's ASN; the wire's 2-octet field carries AS_TRANS (23456) when it does not fit. */
  readonly asn: number
  readonly holdTimeSeconds: number
  /** BGP Identifier as an unsigned 32-bit number. */
  readonly bgpIdentifier: number
  readonly capabilities: ReadonlyArray<Capability>
}

export const asTrans = 23456

export type Origin = "igp" | "egp" | "incomplete"

export interface AsPathSegment {
  readonly type: "set" | "sequence"
  readonly asns: ReadonlyArray<number>
}

export interface LargeCommunity {
  readonly globalAdministrator: number
  readonly localData1: number
  readonly localData2: number
}

export interface MpReach {
  readonly family: Family
  /** One global next hop, optionally followed by a link-local one (IPv6, RFC 2545). */
  readonly nextHops: ReadonlyArray<Address>
  readonly nlri: ReadonlyArray<Prefix>
}

export interface MpUnreach {
  readonly family: Family
  readonly withdrawn: ReadonlyArray<Prefix>
}

export interface UnknownAttribute {
  readonly flags: number
  readonly code: number
  readonly value: Uint8Array
}

export interface PathAttributes {
  readonly origin?: Origin
  readonly asPath?: ReadonlyArray<AsPathSegment>
  readonly nextHop?: Address
  readonly med?: number
  readonly localPref?: number
  readonly atomicAggregate?: boolean
  /** Standard communities as unsigned 32-bit values (ASN << 16 | value). */
  readonly communities?: ReadonlyArray<number>
  readonly largeCommunities?: ReadonlyArray<LargeCommunity>
  readonly as4Path?: ReadonlyArray<AsPathSegment>
  readonly mpReach?: MpReach
  readonly mpUnreach?: MpUnreach
  /** Optional transitive attributes we do not interpret, kept to pass on (with the Partial bit). */
  readonly unknown?: ReadonlyArray<UnknownAttribute>
}

export interface Update {
  readonly _tag: "Update"
  /** IPv4 withdrawals in the message body. */
  readonly withdrawn: ReadonlyArray<Prefix>
  readonly attributes: PathAttributes
  /** IPv4 NLRI in the message body. */
  readonly nlri: ReadonlyArray<Prefix>
}

export interface Notification {
  readonly _tag: "Notification"
  readonly code: number
  readonly subcode: number
  readonly data: Uint8Array
}

export interface Keepalive {
  readonly _tag: "Keepalive"
}

export interface RouteRefresh {
  readonly _tag: "RouteRefresh"
  readonly family: Family
  /** RFC 7313 subtype; 0 for a plain RFC 2918 request. */
  readonly subtype: number
}

export type Message = Open | Update | Notification | Keepalive | RouteRefresh

export const messageType = { Open: 1, Update: 2, Notification: 3, Keepalive: 4, RouteRefresh: 5 } as const

export const headerLength = 19
export const maxMessageLength = 4096

/** NOTIFICATION error codes and subcodes: RFC 4271 §4.5, §6; Cease subcodes RFC 4486 (and RFC 8203's 2/4). */
export const errorCode = {
  MessageHeader: 1,
  OpenMessage: 2,
  UpdateMessage: 3,
  HoldTimerExpired: 4,
  FiniteStateMachine: 5,
  Cease: 6,
  RouteRefresh: 7,
} as const

export const headerSubcode = { ConnectionNotSynchronized: 1, BadMessageLength: 2, BadMessageType: 3 } as const

export const openSubcode = {
  UnsupportedVersionNumber: 1,
  BadPeerAs: 2,
  BadBgpIdentifier: 3,
  UnsupportedOptionalParameter: 4,
  UnacceptableHoldTime: 6,
  UnsupportedCapability: 7,
} as const

export const updateSubcode = {
  MalformedAttributeList: 1,
  UnrecognizedWellKnownAttribute: 2,
  MissingWellKnownAttribute: 3,
  AttributeFlagsError: 4,
  AttributeLengthError: 5,
  InvalidOriginAttribute: 6,
  InvalidNextHopAttribute: 8,
  OptionalAttributeError: 9,
  InvalidNetworkField: 10,
  MalformedAsPath: 11,
} as const

export const fsmSubcode = { UnspecifiedError: 0, UnexpectedInOpenSent: 1, UnexpectedInOpenConfirm: 2, UnexpectedInEstablished: 3 } as const

export const ceaseSubcode = {
  MaximumPrefixesReached: 1,
  AdministrativeShutdown: 2,
  PeerDeconfigured: 3,
  AdministrativeReset: 4,
  ConnectionRejected: 5,
  OtherConfigurationChange: 6,
  ConnectionCollisionResolution: 7,
  OutOfResources: 8,
} as const

export const routeRefreshSubcode = { InvalidMessageLength: 1 } as const

/** Attribute type codes used here. */
export const attributeCode = {
  Origin: 1,
  AsPath: 2,
  NextHop: 3,
  Med: 4,
  LocalPref: 5,
  AtomicAggregate: 6,
  Aggregator: 7,
  Communities: 8,
  MpReach: 14,
  MpUnreach: 15,
  As4Path: 17,
  As4Aggregator: 18,
  LargeCommunities: 32,
} as const

/** Attribute flag bits. */
export const attributeFlag = { Optional: 0x80, Transitive: 0x40, Partial: 0x20, ExtendedLength: 0x10 } as const

export const notification = (code: number, subcode: number, data: Uint8Array = new Uint8Array(0)): Notification => ({
  _tag: "Notification",
  code,
  subcode,
  data,
})

/** An End-of-RIB marker (RFC 4724 §2): an empty UPDATE for IPv4, an empty MP_UNREACH for others. */
export const endOfRib = (family: Family): Update =>
  family === "ipv4"
    ? { _tag: "Update", withdrawn: [], attributes: {}, nlri: [] }
    : { _tag: "Update", withdrawn: [], attributes: { mpUnreach: { family, withdrawn: [] } }, nlri: [] }
