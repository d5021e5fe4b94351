// ROUTE-REFRESH messages (RFC 2918 §3, RFC 7313 §3): AFI, a subtype octet (reserved in RFC 2918), SAFI.
// Any length other than 23 is ROUTE-REFRESH Message Error / Invalid Message Length with the whole
// message as data (RFC 7313 §5; ORF entries, RFC 5291, are not spoken here). A request for a family
// other than IPv4/IPv6 unicast, or with a subtype RFC 7313 does not define (3..255), is to be ignored
// (RFC 2918 §4, RFC 7313 §5), which decoding reports as a BgpIgnoredMessage rather than an error.
import { Result } from "effect"
import { afiOf, errorCode, messageType, type RouteRefresh, routeRefreshSubcode, safiUnicast } from "../messages.ts"
import { familyOf } from "./capabilities.ts"
import { BgpIgnoredMessage, type DecodeFailure, decodeError } from "./errors.ts"
import { finishMessage, startMessage } from "./framing.ts"
import { u16, u8, Writer } from "./wire.ts"

const routeRefreshLength = 23
const maxSubtype = 2

export const decodeRouteRefresh = (message: Uint8Array): Result.Result<RouteRefresh, DecodeFailure> => {
  if (message.length !== routeRefreshLength) {
    return Result.fail(
      decodeError(errorCode.RouteRefresh, routeRefreshSubcode.InvalidMessageLength, `ROUTE-REFRESH of ${message.length} bytes`, message.slice()),
    )
  }
  const afi = u16(message, 19)
  const subtype = u8(message, 21)
  const safi = u8(message, 22)
  const family = familyOf(afi, safi)
  if (family === undefined) return Result.fail(new BgpIgnoredMessage({ reason: `ROUTE-REFRESH for AFI ${afi} SAFI ${safi}` }))
  if (subtype > maxSubtype) return Result.fail(new BgpIgnoredMessage({ reason: `ROUTE-REFRESH subtype ${subtype}` }))
  return Result.succeed({ _tag: "RouteRefresh", family, subtype })
}

export const encodeRouteRefresh = (refresh: RouteRefresh): Uint8Array =>
  finishMessage(startMessage(new Writer(), messageType.RouteRefresh).u16(afiOf(refresh.family)).u8(refresh.subtype).u8(safiUnicast))
