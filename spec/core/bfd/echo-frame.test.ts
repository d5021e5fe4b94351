import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { echoFrameChecksumsValid, encodeEchoFrame } from "../../../core/bfd/echo-frame.ts"
import { encodeEchoPacket } from "../../../core/bfd/echo-packet.ts"

const mac = (last: number) => Uint8Array.from([0x02, 0, 0, 0, 0, last])

describe("echo frame (Ethernet + IPv4 + UDP 3785, to ourselves via the neighbour's MAC)", () => {
  const payload = encodeEchoPacket({ discriminator: 0x0a0b0c0d, nonce: 1, sequence: 2, sentAtUs: 3 })
  const frame = encodeEchoFrame({ destinationMac: mac(1), sourceMac: mac(2), address: Uint8Array.from([192, 0, 2, 10]), payload, identification: 0x1234 })
  const view = new DataView(frame.buffer)

  it("addresses the neighbour's MAC and our own IPv4 address both ways, TTL 255, UDP 3785 -> 3785", () => {
    expect([...frame.subarray(0, 6)]).toEqual([...mac(1)])
    expect([...frame.subarray(6, 12)]).toEqual([...mac(2)])
    expect(view.getUint16(12)).toBe(0x0800)
    expect(frame[14]).toBe(0x45)
    expect(frame[14 + 8]).toBe(255)
    expect(frame[14 + 9]).toBe(17)
    expect([...frame.subarray(26, 30)]).toEqual([192, 0, 2, 10])
    expect([...frame.subarray(30, 34)]).toEqual([192, 0, 2, 10])
    expect(view.getUint16(34)).toBe(3785)
    expect(view.getUint16(36)).toBe(3785)
    expect(view.getUint16(38)).toBe(8 + payload.length)
    expect(view.getUint16(16)).toBe(20 + 8 + payload.length)
    expect([...frame.subarray(42)]).toEqual([...payload])
  })

  it("carries valid IPv4 and UDP checksums, and the checker fires on any flipped byte (property)", () => {
    expect(echoFrameChecksumsValid(frame)).toBe(true)
    fc.assert(
      fc.property(fc.integer({ min: 14, max: frame.length - 1 }), fc.integer({ min: 1, max: 255 }), (offset, flip) => {
        const broken = frame.slice()
        broken[offset] = (broken[offset] ?? 0) ^ flip
        // A flip inside the UDP length field changes what is summed; every other flip breaks a sum.
        if (offset === 38 || offset === 39) return
        expect(echoFrameChecksumsValid(broken)).toBe(false)
      }),
    )
  })

  it("checksums hold for any address and payload (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ maxLength: 64 }), fc.nat(0xffff), (address, body, id) => {
        expect(echoFrameChecksumsValid(encodeEchoFrame({ destinationMac: mac(1), sourceMac: mac(2), address, payload: body, identification: id }))).toBe(true)
      }),
    )
  })

  it("refuses addresses of the wrong size", () => {
    expect(() => encodeEchoFrame({ destinationMac: mac(1), sourceMac: mac(2), address: new Uint8Array(16), payload, identification: 0 })).toThrow(/IPv4 address has 4 bytes, got 16/)
    expect(() => encodeEchoFrame({ destinationMac: new Uint8Array(5), sourceMac: mac(2), address: new Uint8Array(4), payload, identification: 0 })).toThrow(/MAC address has 6 bytes/)
  })
})
