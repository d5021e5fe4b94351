// Big-endian byte primitives shared by every BGP encoder and decoder (RFC 4271 §4: all multi-octet
// fields are in network byte order). Reads never throw: callers check bounds first, and an index past
// the end reads as 0 rather than failing, so a missed check degrades into a wrong value caught by the
// caller's length checks, never into an exception. Writing goes through a growable buffer so encoders
// can back-patch length fields once the body is known.

export const u8 = (bytes: Uint8Array, offset: number): number => bytes[offset] ?? 0

export const u16 = (bytes: Uint8Array, offset: number): number => (u8(bytes, offset) << 8) | u8(bytes, offset + 1)

export const u32 = (bytes: Uint8Array, offset: number): number =>
  ((u8(bytes, offset) << 24) >>> 0) + (u8(bytes, offset + 1) << 16) + (u8(bytes, offset + 2) << 8) + u8(bytes, offset + 3)

export const twoBytes = (value: number): Uint8Array => Uint8Array.of((value >>> 8) & 0xff, value & 0xff)

export class Writer {
  private buffer = new Uint8Array(512)
  private used = 0

  get length(): number {
    return this.used
  }

  private reserve(extra: number): void {
    if (this.used + extra <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < this.used + extra) size *= 2
    const grown = new Uint8Array(size)
    grown.set(this.buffer.subarray(0, this.used))
    this.buffer = grown
  }

  u8(value: number): this {
    this.reserve(1)
    this.buffer[this.used++] = value & 0xff
    return this
  }

  u16(value: number): this {
    this.reserve(2)
    this.buffer[this.used++] = (value >>> 8) & 0xff
    this.buffer[this.used++] = value & 0xff
    return this
  }

  u32(value: number): this {
    this.reserve(4)
    this.buffer[this.used++] = (value >>> 24) & 0xff
    this.buffer[this.used++] = (value >>> 16) & 0xff
    this.buffer[this.used++] = (value >>> 8) & 0xff
    this.buffer[this.used++] = value & 0xff
    return this
  }

  bytes(values: Uint8Array | ReadonlyArray<number>): this {
    this.reserve(values.length)
    this.buffer.set(values, this.used)
    this.used += values.length
    return this
  }

  /** Overwrites a 2-byte field written earlier (a length known only after its body). */
  patchU16(offset: number, value: number): this {
    this.buffer[offset] = (value >>> 8) & 0xff
    this.buffer[offset + 1] = value & 0xff
    return this
  }

  finish(): Uint8Array {
    return this.buffer.slice(0, this.used)
  }
}
