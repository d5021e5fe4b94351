// fast-check generators for the L2 codecs and responder: valid values (every validity rule of
// RFC 4861 §7.1 respected, so encode/decode must round-trip) and byte mutations for fuzzing.
import fc from "fast-check"
import type { Address } from "../../../core/net/address.ts"
import type { ArpPacket } from "../../../core/l2/arp.ts"
import type { EthernetHeader, VlanTag } from "../../../core/l2/ethernet.ts"
import type { ArpFrame, Frame, NdpFrame } from "../../../core/l2/frame.ts"
import { isMulticast, solicitedNodeAddress } from "../../../core/l2/ipv6.ts"
import { macFromBytes, type Mac } from "../../../core/l2/mac.ts"
import type { NdpMessage, NdpOption } from "../../../core/l2/ndp.ts"

export const macArb: fc.Arbitrary<Mac> = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => macFromBytes(b, 0))

export const ipv4Arb: fc.Arbitrary<Address> = fc
  .integer({ min: 0, max: 0xffff_ffff })
  .map((v) => ({ family: "ipv4", value: BigInt(v) }))

const v6 = (value: bigint): Address => ({ family: "ipv6", value })

export const ipv6Arb: fc.Arbitrary<Address> = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map(v6),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => v6(0xfe80n << 112n | v)),
  fc.bigInt({ min: 0n, max: 0xff_ffffn }).map((v) => solicitedNodeAddress(v6(v))),
  fc.constant(v6(0n)),
)

export const unicastIpv6Arb: fc.Arbitrary<Address> = ipv6Arb.filter((a) => !isMulticast(a))

/** A source an NDP frame may carry: never multicast, never :: (DAD is generated separately). */
export const sourceIpv6Arb: fc.Arbitrary<Address> = unicastIpv6Arb.filter((a) => a.value !== 0n)

export const vlanArb: fc.Arbitrary<VlanTag> = fc.record({
  pcp: fc.integer({ min: 0, max: 7 }),
  dei: fc.boolean(),
  vid: fc.integer({ min: 0, max: 4095 }),
})

export const ethernetHeaderArb: fc.Arbitrary<EthernetHeader> = fc
  .record({ dst: macArb, src: macArb, vlan: fc.option(vlanArb, { nil: undefined }) })
  .map(({ dst, src, vlan }) => ({ dst, src, ...(vlan === undefined ? {} : { vlan }) }))

export const arpArb: fc.Arbitrary<ArpPacket> = fc.record({
  operation: fc.constantFrom("request" as const, "reply" as const),
  senderMac: macArb,
  senderIp: ipv4Arb,
  targetMac: macArb,
  targetIp: ipv4Arb,
})

const octets8kMinus2 = fc.integer({ min: 1, max: 3 }).chain((k) => fc.uint8Array({ minLength: 8 * k - 2, maxLength: 8 * k - 2 }))

export const optionArb: fc.Arbitrary<NdpOption> = fc.oneof(
  macArb.map((mac): NdpOption => ({ _tag: "SourceLinkLayerAddress", mac })),
  macArb.map((mac): NdpOption => ({ _tag: "TargetLinkLayerAddress", mac })),
  octets8kMinus2.map((nonce): NdpOption => ({ _tag: "Nonce", nonce })),
  fc
    .record({ type: fc.integer({ min: 0, max: 255 }).filter((t) => t !== 1 && t !== 2 && t !== 14), data: octets8kMinus2 })
    .map(({ type, data }): NdpOption => ({ _tag: "UnknownOption", type, data })),
)

const optionsArb = fc.array(optionArb, { maxLength: 4 })

const ipExtrasArb = fc.record({ trafficClass: fc.integer({ min: 0, max: 255 }), flowLabel: fc.integer({ min: 0, max: 0xf_ffff }) })

const nsFrameArb: fc.Arbitrary<NdpFrame> = fc
  .record({ ethernet: ethernetHeaderArb, extras: ipExtrasArb, target: unicastIpv6Arb, options: optionsArb, source: sourceIpv6Arb, destination: ipv6Arb, dad: fc.boolean() })
  .map(({ ethernet, extras, target, options, source, destination, dad }) => {
    const ndp: NdpMessage = {
      _tag: "NeighborSolicitation",
      target,
      options: dad ? options.filter((o) => o._tag !== "SourceLinkLayerAddress") : options,
    }
    const ip = dad
      ? { ...extras, source: v6(0n), destination: solicitedNodeAddress(target) }
      : { ...extras, source, destination }
    return { _tag: "NdpFrame", ethernet, ip, ndp }
  })

const naFrameArb: fc.Arbitrary<NdpFrame> = fc
  .record({
    ethernet: ethernetHeaderArb,
    extras: ipExtrasArb,
    target: unicastIpv6Arb,
    options: optionsArb,
    source: unicastIpv6Arb,
    destination: ipv6Arb,
    flags: fc.record({ router: fc.boolean(), solicited: fc.boolean(), override: fc.boolean() }),
  })
  .map(({ ethernet, extras, target, options, source, destination, flags }) => ({
    _tag: "NdpFrame",
    ethernet,
    ip: { ...extras, source, destination },
    ndp: {
      _tag: "NeighborAdvertisement",
      ...flags,
      solicited: flags.solicited && !isMulticast(destination),
      target,
      options,
    },
  }))

export const ndpFrameArb: fc.Arbitrary<NdpFrame> = fc.oneof(nsFrameArb, naFrameArb)

export const arpFrameArb: fc.Arbitrary<ArpFrame> = fc
  .record({ ethernet: ethernetHeaderArb, arp: arpArb })
  .map(({ ethernet, arp }) => ({ _tag: "ArpFrame", ethernet, arp }))

export const frameArb: fc.Arbitrary<Frame> = fc.oneof(arpFrameArb, ndpFrameArb)

export type Mutation =
  | { readonly kind: "flip"; readonly at: number; readonly xor: number }
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "append"; readonly bytes: Uint8Array }
  | { readonly kind: "set"; readonly at: number; readonly value: number }

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("append" as const), bytes: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff) }),
)

export const mutate = (bytes: Uint8Array, mutations: ReadonlyArray<Mutation>): Uint8Array => {
  let out = bytes.slice()
  for (const m of mutations) {
    if (out.length === 0 && m.kind !== "append") continue
    switch (m.kind) {
      case "flip":
        out[m.at % out.length] = (out[m.at % out.length] ?? 0) ^ m.xor
        break
      case "set":
        out[m.at % out.length] = m.value
        break
      case "truncate":
        out = out.slice(0, m.at % (out.length + 1))
        break
      case "append": {
        const longer = new Uint8Array(out.length + m.bytes.length)
        longer.set(out)
        longer.set(m.bytes, out.length)
        out = longer
        break
      }
    }
  }
  return out
}
