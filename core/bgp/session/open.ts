// The OPEN this speaker sends (RFC 4271 §4.2): our ASN (the codec writes AS_TRANS into the 2-octet
// field when it does not fit, RFC 6793), our configured hold time and identifier, and the capabilities
// we always offer — Multiprotocol per configured family (RFC 4760), Route Refresh (RFC 2918, answered
// with RouteRefreshRequested), 4-octet ASN (RFC 6793) — plus Graceful Restart (RFC 4724) when enabled,
// with the R bit while the session has not been Established since our restart, and Extended Next Hop
// for IPv4 unicast over an IPv6 next hop (RFC 8950) when configured and IPv4 is one of our families.
import { type Capability, ipv4OverIpv6NextHop, type Open } from "../messages.ts"
import type { Session } from "./state.ts"

export const localOpen = (session: Session): Open => {
  const { config } = session
  const gracefulRestart: ReadonlyArray<Capability> = config.gracefulRestart.enabled
    ? [{
      _tag: "GracefulRestart",
      restarting: session.advertiseRestarting,
      restartTimeSeconds: config.gracefulRestart.restartTimeSeconds,
      families: config.families.map((family) => ({ family, forwardingPreserved: config.gracefulRestart.forwardingPreserved })),
    }]
    : []
  return {
    _tag: "Open",
    asn: config.localAsn,
    holdTimeSeconds: config.holdTimeSeconds,
    bgpIdentifier: config.localBgpIdentifier,
    capabilities: [
      ...config.families.map((family): Capability => ({ _tag: "Multiprotocol", family })),
      { _tag: "RouteRefresh" },
      { _tag: "FourOctetAsn", asn: config.localAsn },
      ...gracefulRestart,
      ...(config.extendedNextHop === true && config.families.includes("ipv4")
        ? [{ _tag: "ExtendedNextHop" as const, entries: [ipv4OverIpv6NextHop] }]
        : []),
    ],
  }
}
