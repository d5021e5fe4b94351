// The BFD Control packet as data (RFC 5880 §4.1): what the codec produces from bytes and what the
// session FSM sends. Intervals are microseconds, as on the wire, and say so in their names; the
// diagnostic stays a number because the 5-bit field has reserved codes (9..31) a peer may still send
// and a decoded packet must re-encode to the same bits. Version (always 1), the A bit (present exactly
// when `authentication` is) and the M bit (always 0: a packet with it set is refused) are implied.

export type BfdState = "AdminDown" | "Down" | "Init" | "Up"

/** Wire order of the 2-bit State field. */
export const bfdStates: ReadonlyArray<BfdState> = ["AdminDown", "Down", "Init", "Up"]

/** Every diagnostic code RFC 5880 §4.1 defines; 9..31 are reserved. */
export const BfdDiagnostic = {
  NoDiagnostic: 0,
  ControlDetectionTimeExpired: 1,
  EchoFunctionFailed: 2,
  NeighborSignaledSessionDown: 3,
  ForwardingPlaneReset: 4,
  PathDown: 5,
  ConcatenatedPathDown: 6,
  AdministrativelyDown: 7,
  ReverseConcatenatedPathDown: 8,
} as const

export type KnownDiagnostic = (typeof BfdDiagnostic)[keyof typeof BfdDiagnostic]

/** The name of a code for logs and status; reserved codes are named by number. */
export const diagnosticName = (code: number): string =>
  Object.entries(BfdDiagnostic).find(([, value]) => value === code)?.[0] ?? `Reserved(${code})`

/** Authentication types of RFC 5880 §4.1; 0 and 6..255 are reserved. */
export const BfdAuthType = {
  SimplePassword: 1,
  KeyedMd5: 2,
  MeticulousKeyedMd5: 3,
  KeyedSha1: 4,
  MeticulousKeyedSha1: 5,
} as const

/**
 * The optional authentication section, kept as its type and the bytes after Auth Type and Auth Len.
 * This implementation does not authenticate: it decodes the section so a session can refuse it.
 */
export interface Authentication {
  readonly type: number
  readonly data: Uint8Array
}

export const headerLengthBytes = 24
export const authHeaderLengthBytes = 2
/** The Length field is one octet: a section with more data than this cannot be encoded. */
export const maxAuthDataBytes = 255 - headerLengthBytes - authHeaderLengthBytes

export interface ControlPacket {
  /** 0..31; see BfdDiagnostic. */
  readonly diagnostic: number
  readonly state: BfdState
  readonly poll: boolean
  readonly final: boolean
  readonly controlPlaneIndependent: boolean
  readonly demand: boolean
  /** 1..255 (0 is refused on decode). */
  readonly detectMultiplier: number
  /** Unsigned 32-bit, non-zero. */
  readonly myDiscriminator: number
  /** Unsigned 32-bit; 0 until the sender has heard from us, allowed only in Down and AdminDown. */
  readonly yourDiscriminator: number
  readonly desiredMinTxIntervalUs: number
  readonly requiredMinRxIntervalUs: number
  /** 0 means "send me no Echo packets" (§6.8.6); this implementation always advertises 0. */
  readonly requiredMinEchoRxIntervalUs: number
  readonly authentication?: Authentication
}
