// BGP capabilities inside the OPEN's Capabilities optional parameter (RFC 5492): code, length, value.
// Interpreted: Multiprotocol (1) for IPv4/IPv6 unicast only (RFC 4760; any other AFI/SAFI stays an
// UnknownCapability so the FSM can see and ignore it), Route Refresh (2, RFC 2918), Graceful Restart
// (64, RFC 4724: R bit, 12-bit restart time, per-family F bit; entries for families not spoken here
// are dropped), Extended Next Hop Encoding (5, RFC 8950 §4: 6-octet entries of NLRI AFI, NLRI SAFI and
// next-hop AFI, every entry kept) and 4-octet AS (65, RFC 6793). Every other code is kept raw, as RFC 5492 §5 asks a
// speaker to ignore capabilities it does not understand. A known capability with an impossible length
// is a malformed optional parameter: OPEN Message Error, subcode 0 (RFC 4271 §6.2).
import { Result } from "effect"
import type { Family } from "../../net/address.ts"
import { afiOf, type Capability, errorCode, type ExtendedNextHopEntry, safiUnicast } from "../messages.ts"
import { type BgpDecodeError, decodeError } from "./errors.ts"
import { u16, u32, u8, type Writer } from "./wire.ts"

export const capabilityCode = { Multiprotocol: 1, RouteRefresh: 2, ExtendedNextHop: 5, GracefulRestart: 64, FourOctetAsn: 65 } as const

/** RFC 8950 §4: NLRI AFI (2 octets), NLRI SAFI (2 octets, though SAFIs fit one), next-hop AFI (2 octets). */
const extendedNextHopEntryBytes = 6

/** RFC 4271 §6.2: a recognized but malformed optional parameter. */
export const openUnspecific = 0

const gracefulRestartFlag = { Restarting: 0x8 } as const
const forwardingPreservedFlag = 0x80

export const familyOf = (afi: number, safi: number): Family | undefined =>
  safi !== safiUnicast ? undefined : afi === 1 ? "ipv4" : afi === 2 ? "ipv6" : undefined

const malformed = (reason: string): BgpDecodeError => decodeError(errorCode.OpenMessage, openUnspecific, reason)

const decodeOne = (code: number, value: Uint8Array): Result.Result<Capability, BgpDecodeError> => {
  switch (code) {
    case capabilityCode.Multiprotocol: {
      if (value.length !== 4) return Result.fail(malformed(`Multiprotocol capability of ${value.length} bytes (must be 4)`))
      const family = familyOf(u16(value, 0), u8(value, 3))
      return Result.succeed(family === undefined ? { _tag: "UnknownCapability", code, value } : { _tag: "Multiprotocol", family })
    }
    case capabilityCode.RouteRefresh:
      return value.length === 0
        ? Result.succeed({ _tag: "RouteRefresh" })
        : Result.fail(malformed(`Route Refresh capability of ${value.length} bytes (must be empty)`))
    case capabilityCode.FourOctetAsn:
      return value.length === 4
        ? Result.succeed({ _tag: "FourOctetAsn", asn: u32(value, 0) })
        : Result.fail(malformed(`4-octet AS capability of ${value.length} bytes (must be 4)`))
    case capabilityCode.ExtendedNextHop: {
      // An empty list is allowed (FRR accepts it too): it offers nothing.
      if (value.length % extendedNextHopEntryBytes !== 0) {
        return Result.fail(malformed(`Extended Next Hop capability of ${value.length} bytes (must be a multiple of 6)`))
      }
      const entries: Array<ExtendedNextHopEntry> = []
      for (let offset = 0; offset < value.length; offset += extendedNextHopEntryBytes) {
        entries.push({ afi: u16(value, offset), safi: u16(value, offset + 2), nextHopAfi: u16(value, offset + 4) })
      }
      return Result.succeed({ _tag: "ExtendedNextHop", entries })
    }
    case capabilityCode.GracefulRestart: {
      if (value.length < 2 || (value.length - 2) % 4 !== 0) {
        return Result.fail(malformed(`Graceful Restart capability of ${value.length} bytes (must be 2 + 4n)`))
      }
      const families: Array<{ family: Family; forwardingPreserved: boolean }> = []
      for (let offset = 2; offset < value.length; offset += 4) {
        const family = familyOf(u16(value, offset), u8(value, offset + 2))
        if (family !== undefined) {
          families.push({ family, forwardingPreserved: (u8(value, offset + 3) & forwardingPreservedFlag) !== 0 })
        }
      }
      return Result.succeed({
        _tag: "GracefulRestart",
        restarting: ((u8(value, 0) >> 4) & gracefulRestartFlag.Restarting) !== 0,
        restartTimeSeconds: u16(value, 0) & 0x0fff,
        families,
      })
    }
    default:
      return Result.succeed({ _tag: "UnknownCapability", code, value })
  }
}

/** Decodes the capabilities filling bytes[start, end) (one Capabilities parameter's value). */
export const decodeCapabilities = (
  bytes: Uint8Array,
  start: number,
  end: number,
): Result.Result<Array<Capability>, BgpDecodeError> => {
  const capabilities: Array<Capability> = []
  let offset = start
  while (offset < end) {
    if (end - offset < 2) return Result.fail(malformed("capability header truncated"))
    const code = u8(bytes, offset)
    const length = u8(bytes, offset + 1)
    if (offset + 2 + length > end) return Result.fail(malformed(`capability ${code} of ${length} bytes overruns its parameter`))
    const capability = decodeOne(code, bytes.slice(offset + 2, offset + 2 + length))
    if (Result.isFailure(capability)) return Result.fail(capability.failure)
    capabilities.push(capability.success)
    offset += 2 + length
  }
  return Result.succeed(capabilities)
}

export const writeCapability = (writer: Writer, capability: Capability): void => {
  switch (capability._tag) {
    case "Multiprotocol":
      writer.u8(capabilityCode.Multiprotocol).u8(4).u16(afiOf(capability.family)).u8(0).u8(safiUnicast)
      return
    case "RouteRefresh":
      writer.u8(capabilityCode.RouteRefresh).u8(0)
      return
    case "FourOctetAsn":
      writer.u8(capabilityCode.FourOctetAsn).u8(4).u32(capability.asn)
      return
    case "ExtendedNextHop":
      writer.u8(capabilityCode.ExtendedNextHop).u8(extendedNextHopEntryBytes * capability.entries.length)
      for (const { afi, safi, nextHopAfi } of capability.entries) writer.u16(afi).u16(safi).u16(nextHopAfi)
      return
    case "GracefulRestart": {
      const flags = capability.restarting ? gracefulRestartFlag.Restarting : 0
      writer.u8(capabilityCode.GracefulRestart).u8(2 + 4 * capability.families.length)
      writer.u16((flags << 12) | (capability.restartTimeSeconds & 0x0fff))
      for (const { family, forwardingPreserved } of capability.families) {
        writer.u16(afiOf(family)).u8(safiUnicast).u8(forwardingPreserved ? forwardingPreservedFlag : 0)
      }
      return
    }
    case "UnknownCapability":
      writer.u8(capability.code).u8(capability.value.length).bytes(capability.value)
      return
  }
}
