// Byte builders for the example tests: messages are written by hand as hex from the RFC layouts, and
// these helpers only add the parts that are pure arithmetic (the marker and the length fields).
import { Result } from "effect"

export const hex = (text: string): Uint8Array => {
  const digits = text.replace(/\s+/g, "")
  if (!/^([0-9a-f]{2})*$/i.test(digits)) throw new Error(`bad hex: ${text}`)
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16))
}

export const toHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")

/** Marker, length and type in front of a hex body. */
export const message = (type: number, body: string): Uint8Array => {
  const bytes = hex(body)
  const length = 19 + bytes.length
  return Uint8Array.from([...new Array<number>(16).fill(0xff), length >> 8, length & 0xff, type, ...bytes])
}

const withLength = (field: string): string => {
  const length = hex(field).length
  return `${(length >> 8).toString(16).padStart(2, "0")}${(length & 0xff).toString(16).padStart(2, "0")}${field}`
}

/** An UPDATE from its three hex fields; the two length fields are computed. */
export const update = (withdrawn: string, attributes: string, nlri: string): Uint8Array =>
  message(2, `${withLength(withdrawn)}${withLength(attributes)}${nlri}`)

export const ok = <A, E>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) throw new Error(`expected success, got ${String(result.failure)}`)
  return result.success
}

export const failure = <A, E>(result: Result.Result<A, E>): E => {
  if (Result.isSuccess(result)) throw new Error(`expected failure, got ${JSON.stringify(result.success, (_, v) => (typeof v === "bigint" ? String(v) : v))}`)
  return result.failure
}
