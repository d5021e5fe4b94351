// The whole Ethernet frame that carries one of our echoes (RFC 5881 §4): IPv4 from our address to
// our address, UDP from and to port 3785, TTL 255, sent to the neighbour's MAC. The neighbour's
// forwarding plane sees a packet for us and routes it back without its BFD ever reading it, which is
// the point of echo. FRR's bfdd builds the same frame for its own echoes, so both loops look alike on
// the wire. Checksums are filled in here, since the frame bypasses our own IP stack.
export const echoPort = 3785
export const echoTtl = 255
const etherTypeIpv4 = 0x0800
const ethernetBytes = 14
const ipv4HeaderBytes = 20
const udpHeaderBytes = 8
const protocolUdp = 17
/** DSCP CS6 (network control), as RFC 5881 §4 suggests for BFD and FRR sets. */
const tosNetworkControl = 0xc0

export interface EchoFrame {
  readonly destinationMac: Uint8Array
  readonly sourceMac: Uint8Array
  /** Our IPv4 address, 4 bytes: both source and destination. */
  readonly address: Uint8Array
  readonly payload: Uint8Array
  /** The IPv4 Identification field. */
  readonly identification: number
}

/** The Internet checksum (RFC 1071) of `bytes`, starting from `initial` (a pseudo-header's sum). */
const internetChecksum = (bytes: Uint8Array, initial = 0): number => {
  let sum = initial
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] ?? 0) * 256 + (bytes[i + 1] ?? 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000)
  return ~sum & 0xffff
}

export const encodeEchoFrame = (frame: EchoFrame): Uint8Array => {
  if (frame.destinationMac.length !== 6 || frame.sourceMac.length !== 6) throw new RangeError("a MAC address has 6 bytes")
  if (frame.address.length !== 4) throw new RangeError(`an IPv4 address has 4 bytes, got ${frame.address.length}`)
  const udpLength = udpHeaderBytes + frame.payload.length
  const bytes = new Uint8Array(ethernetBytes + ipv4HeaderBytes + udpLength)
  const view = new DataView(bytes.buffer)
  bytes.set(frame.destinationMac, 0)
  bytes.set(frame.sourceMac, 6)
  view.setUint16(12, etherTypeIpv4)
  const ip = ethernetBytes
  view.setUint8(ip, 0x45)
  view.setUint8(ip + 1, tosNetworkControl)
  view.setUint16(ip + 2, ipv4HeaderBytes + udpLength)
  view.setUint16(ip + 4, frame.identification & 0xffff)
  view.setUint8(ip + 8, echoTtl)
  view.setUint8(ip + 9, protocolUdp)
  bytes.set(frame.address, ip + 12)
  bytes.set(frame.address, ip + 16)
  view.setUint16(ip + 10, internetChecksum(bytes.subarray(ip, ip + ipv4HeaderBytes)))
  const udp = ip + ipv4HeaderBytes
  view.setUint16(udp, echoPort)
  view.setUint16(udp + 2, echoPort)
  view.setUint16(udp + 4, udpLength)
  bytes.set(frame.payload, udp + udpHeaderBytes)
  // Pseudo-header: source, destination, protocol, UDP length.
  const a = frame.address
  const pseudo = 2 * (((a[0] ?? 0) * 256 + (a[1] ?? 0)) + ((a[2] ?? 0) * 256 + (a[3] ?? 0))) + protocolUdp + udpLength
  const checksum = internetChecksum(bytes.subarray(udp, udp + udpLength), pseudo)
  // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
  view.setUint16(udp + 6, checksum === 0 ? 0xffff : checksum)
  return bytes
}

/** The sum check a receiver does: all ones over the header (IPv4) or pseudo-header and datagram (UDP). */
export const echoFrameChecksumsValid = (bytes: Uint8Array): boolean => {
  if (bytes.length < ethernetBytes + ipv4HeaderBytes + udpHeaderBytes) return false
  const ip = bytes.subarray(ethernetBytes, ethernetBytes + ipv4HeaderBytes)
  if (internetChecksum(ip) !== 0) return false
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const udpLength = view.getUint16(ethernetBytes + ipv4HeaderBytes + 4)
  const udp = bytes.subarray(ethernetBytes + ipv4HeaderBytes, ethernetBytes + ipv4HeaderBytes + udpLength)
  let pseudo = protocolUdp + udpLength
  for (let i = 12; i < 20; i += 2) pseudo += (ip[i] ?? 0) * 256 + (ip[i + 1] ?? 0)
  return internetChecksum(udp, pseudo) === 0
}
