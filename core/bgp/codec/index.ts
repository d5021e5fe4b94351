// The BGP-4 wire codec: framing of the TCP stream, decoding with RFC 4271/7606 error handling into the
// values of ../messages.ts, and exact encoding. The session FSM and the RIB planner import from here.
export { BgpDecodeError, BgpIgnoredMessage, type DecodeFailure, FramingError, maxNotificationDataLength, notificationFor } from "./errors.ts"
export { checkMessage, type Framed, frame, type Header } from "./framing.ts"
export { type CodecOptions, decode, decodeUpdate, encode, encodedLength } from "./message.ts"
export { encodedPrefixLength } from "./nlri.ts"
export type { UpdateOutcome } from "./update.ts"
