// Shared set-up for the interop suites: a speaker host and a router host on one veth pair (both
// families), resolved Peer values as core/config would produce them, the routes the speaker announces
// and a bounded wait on the speaker's own session state.
import { Effect, Result } from "effect"
import type { PacketAddonApi } from "../../../shell/native/packet.ts"
import type { TcpAddonApi } from "../../../shell/native/tcp.ts"
import type { UdpAddonApi } from "../../../shell/native/udp.ts"
import { udpAddon } from "../../../shell/speaker/bfd-transport.ts"
import { tcpAddon } from "../../../shell/speaker/bgp-transport.ts"
import { packetAddon } from "../../../shell/speaker/bgp-unnumbered.ts"
import { ensureAddonBuilt } from "../native/build-addon.ts"
import type { DesiredRoute } from "../../../core/bgp/rib.ts"
import type { BfdProfile, BgpCommunity, Peer } from "../../../core/config/config.ts"
import { bfdDefaults } from "../../../core/config/rules/bfd.ts"
import { type Address, parseAddress } from "../../../core/net/address.ts"
import { parsePrefix } from "../../../core/net/prefix.ts"
import type { PeerSession } from "../../../shell/speaker/peer-session.ts"
import { eventually, type Host, Lab } from "../../support/netns.ts"
import { resolvedPeer } from "../../core/speaker/peer-fixture.ts"

export const speakerV4 = "192.0.2.10"
export const speakerV6 = "2001:db8::10"
export const routerV4 = "192.0.2.1"
export const routerV6 = "2001:db8::1"

export const address = (text: string): Address => {
  const parsed = parseAddress(text)
  if (Result.isFailure(parsed)) throw parsed.failure
  return parsed.success
}

/** The speaker ("node") and the router on one link, IPv4 and IPv6. */
export const speakerAndRouter = async (label: string): Promise<{ lab: Lab; node: Host; router: Host; routerInterface: string }> => {
  const lab = await Lab.create(label)
  const node = await lab.host("node")
  const router = await lab.host("router")
  const { bName } = await lab.link(node, router, {
    aAddresses: [`${speakerV4}/24`, `${speakerV6}/64`],
    bAddresses: [`${routerV4}/24`, `${routerV6}/64`],
  })
  return { lab, node, router, routerInterface: bName }
}

/** A resolved Peer with test-friendly timers (connect retry 2 s) and everything else at MetalLB's defaults. */
export const peer = (fields: { readonly name: string; readonly address: string; readonly myAsn: number; readonly peerAsn: number } & Partial<Omit<Peer, "address">>): Peer =>
  resolvedPeer({ holdTimeSeconds: 9, keepaliveTimeSeconds: 3, connectTimeSeconds: 2, ...fields, address: address(fields.address) })

export const communities: ReadonlyArray<BgpCommunity> = [
  { kind: "standard", asn: 64500, value: 100 },
  { kind: "large", globalAdministrator: 64500, localData1: 1, localData2: 2 },
]

export const route = (prefix: string, localPref?: number): DesiredRoute => {
  const parsed = parsePrefix(prefix)
  if (Result.isFailure(parsed)) throw parsed.failure
  return { prefix: parsed.success.prefix, communities, ...(localPref === undefined ? {} : { localPref }) }
}

/** Quick restarts: the default MetalLB backoff would wait seconds after a collision or a refused dial. */
export const testBackoff = { initialDelayMs: 200, maxDelayMs: 2_000 }

/** MetalLB's default BFD profile (300 ms x 3, as FRR's test peers use), single hop. */
export const bfdProfile: BfdProfile = { name: "fast", ...bfdDefaults }

export const waitSessionState = (session: PeerSession, state: string, timeoutMs = 30_000): Promise<true> =>
  eventually(`speaker session ${session.bgp.name} ${state}`, async () => {
    if (session.state === state) return true as const
    throw new Error(`state ${session.state}`)
  }, { timeoutMs, intervalMs: 50 })

/** The native addons an interop suite dials, listens and discovers with (built first when needed). */
export const interopAddons = async (): Promise<{ readonly tcp: TcpAddonApi; readonly udp: UdpAddonApi; readonly packet: PacketAddonApi }> => {
  ensureAddonBuilt()
  return { tcp: await Effect.runPromise(tcpAddon), udp: await Effect.runPromise(udpAddon), packet: await Effect.runPromise(packetAddon) }
}
