// Just enough X.509 (RFC 5280) to run the webhooks' own PKI: a self-signed CA and a serving certificate
// signed by it, both ECDSA P-256 with SHA-256 (RFC 5758), DER-encoded by hand (X.690) and signed with
// node:crypto. Written to satisfy Go's crypto/x509, which is what the API server verifies with: the
// serving name is in subjectAltName (Go ignores the CN), the CA has basicConstraints cA and keyCertSign,
// serials are positive, and issuer and subject are the same bytes so chains build.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, sign, X509Certificate } from "node:crypto"
import ipaddr from "ipaddr.js"

export interface KeyPair {
  readonly certPem: string
  readonly keyPem: string
}

export interface Validity {
  readonly notBeforeMs: number
  readonly notAfterMs: number
}

export interface ServingIdentity extends Validity {
  readonly commonName: string
  readonly dnsNames: ReadonlyArray<string>
  readonly ipAddresses: ReadonlyArray<string>
}

// --- DER (X.690) ---

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const lengthOctets = (length: number): Uint8Array => {
  if (length < 0x80) return Uint8Array.of(length)
  const bytes: Array<number> = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}

const tlv = (tag: number, ...content: ReadonlyArray<Uint8Array>): Uint8Array => {
  const body = concat(content)
  return concat([Uint8Array.of(tag), lengthOctets(body.length), body])
}

const sequence = (...items: ReadonlyArray<Uint8Array>) => tlv(0x30, ...items)
const set = (...items: ReadonlyArray<Uint8Array>) => tlv(0x31, ...items)
const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner)
const octetString = (bytes: Uint8Array) => tlv(0x04, bytes)
const bitString = (bytes: Uint8Array, unusedBits = 0) => tlv(0x03, Uint8Array.of(unusedBits), bytes)
const utf8String = (text: string) => tlv(0x0c, new TextEncoder().encode(text))
const asciiTagged = (tag: number, text: string) => tlv(tag, new TextEncoder().encode(text))
const booleanTrue = tlv(0x01, Uint8Array.of(0xff))

/** A non-negative INTEGER from big-endian magnitude bytes. */
const unsignedInteger = (magnitude: Uint8Array): Uint8Array => {
  let start = 0
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++
  const trimmed = magnitude.subarray(start)
  return tlv(0x02, (trimmed[0] ?? 0) & 0x80 ? concat([Uint8Array.of(0), trimmed]) : trimmed)
}

const objectIdentifier = (dotted: string): Uint8Array => {
  const [first = 0, second = 0, ...rest] = dotted.split(".").map(Number)
  const bytes: Array<number> = []
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk: Array<number> = [arc & 0x7f]
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift(0x80 | (n & 0x7f))
    bytes.push(...chunk)
  }
  return tlv(0x06, Uint8Array.from(bytes))
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after; whole seconds, always Zulu. */
const time = (ms: number): Uint8Array => {
  const d = new Date(Math.floor(ms / 1000) * 1000)
  const two = (n: number) => String(n).padStart(2, "0")
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`
  const year = d.getUTCFullYear()
  return year >= 1950 && year <= 2049
    ? asciiTagged(0x17, `${two(year % 100)}${rest}`)
    : asciiTagged(0x18, `${String(year).padStart(4, "0")}${rest}`)
}

/** A named-bit BIT STRING (KeyUsage): trailing zero bits dropped, as DER requires. */
const namedBits = (bits: ReadonlyArray<number>): Uint8Array => {
  const highest = Math.max(...bits)
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1)
  for (const bit of bits) bytes[Math.floor(bit / 8)]! |= 0x80 >> (bit % 8)
  return bitString(bytes, 7 - (highest % 8))
}

// --- X.509 ---

const oids = {
  commonName: "2.5.4.3",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const

const keyUsageBits = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const

const name = (commonName: string) => sequence(set(sequence(objectIdentifier(oids.commonName), utf8String(commonName))))

const extension = (oid: string, critical: boolean, value: Uint8Array) =>
  sequence(objectIdentifier(oid), ...(critical ? [booleanTrue] : []), octetString(value))

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (the uncompressed EC point). */
const keyIdentifier = (publicKey: KeyObject): Uint8Array => {
  const jwk = publicKey.export({ format: "jwk" })
  const point = concat([Uint8Array.of(4), Buffer.from(jwk.x ?? "", "base64url"), Buffer.from(jwk.y ?? "", "base64url")])
  return new Uint8Array(createHash("sha1").update(point).digest())
}

const toPem = (label: string, der: Uint8Array): string => {
  const lines = Buffer.from(der).toString("base64").match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`
}

const serialNumber = (): Uint8Array => {
  const bytes = new Uint8Array(randomBytes(16))
  bytes[0] = (bytes[0]! & 0x7f) | 0x40 // positive and full length (Go refuses negative serials)
  return bytes
}

interface Signer {
  /** The issuer's subject Name, DER. */
  readonly name: Uint8Array
  readonly privateKey: KeyObject
}

const certificate = (input: {
  readonly issuer: Signer
  readonly subject: string
  readonly subjectKey: KeyObject
  readonly validity: Validity
  readonly extensions: ReadonlyArray<Uint8Array>
}): Uint8Array => {
  const algorithm = sequence(objectIdentifier(oids.ecdsaWithSha256))
  const tbs = sequence(
    explicit(0, unsignedInteger(Uint8Array.of(2))), // v3
    unsignedInteger(serialNumber()),
    algorithm,
    input.issuer.name,
    sequence(time(input.validity.notBeforeMs), time(input.validity.notAfterMs)),
    name(input.subject),
    new Uint8Array(input.subjectKey.export({ type: "spki", format: "der" })),
    explicit(3, sequence(...input.extensions)),
  )
  const signature = new Uint8Array(sign("sha256", tbs, { key: input.issuer.privateKey, dsaEncoding: "der" }))
  return sequence(tbs, algorithm, bitString(signature))
}

const newKey = () => generateKeyPairSync("ec", { namedCurve: "prime256v1" })

const keyPem = (key: KeyObject) => key.export({ type: "pkcs8", format: "pem" }).toString()

/** A self-signed CA that may sign only end-entity certificates (pathLen 0). */
export const issueCa = (commonName: string, validity: Validity): KeyPair => {
  const { privateKey, publicKey } = newKey()
  const id = keyIdentifier(publicKey)
  const der = certificate({
    issuer: { name: name(commonName), privateKey },
    subject: commonName,
    subjectKey: publicKey,
    validity,
    extensions: [
      extension(oids.basicConstraints, true, sequence(booleanTrue, unsignedInteger(Uint8Array.of(0)))),
      extension(oids.keyUsage, true, namedBits([keyUsageBits.digitalSignature, keyUsageBits.keyCertSign, keyUsageBits.cRLSign])),
      extension(oids.subjectKeyIdentifier, false, octetString(id)),
    ],
  })
  return { certPem: toPem("CERTIFICATE", der), keyPem: keyPem(privateKey) }
}

/** The subject Name of a certificate as its DER bytes: the issuer of what it signs must be these bytes. */
const subjectName = (certDer: Uint8Array): Uint8Array => {
  const element = (at: number) => {
    const first = certDer[at + 1] ?? 0
    const lengthBytes = first & 0x80 ? first & 0x7f : 0
    let length = lengthBytes === 0 ? first : 0
    for (let i = 0; i < lengthBytes; i++) length = length * 256 + (certDer[at + 2 + i] ?? 0)
    const header = 2 + lengthBytes
    return { start: at, contentStart: at + header, end: at + header + length }
  }
  const tbs = element(element(0).contentStart)
  let at = tbs.contentStart
  if (certDer[at] === 0xa0) at = element(at).end // version
  for (let skip = 0; skip < 4; skip++) at = element(at).end // serial, signature, issuer, validity
  const subject = element(at)
  if (subject.end > certDer.length || certDer[at] !== 0x30) throw new Error("certificate has no readable subject")
  return certDer.subarray(subject.start, subject.end)
}

/**
 * A TLS server certificate for the given names, signed by `ca` (which must hold an EC P-256 key).
 * Throws on an unusable CA or a malformed IP address.
 */
export const issueServing = (ca: KeyPair, identity: ServingIdentity): KeyPair => {
  const issuerPrivate = createPrivateKey(ca.keyPem)
  const issuerPublic = createPublicKey(issuerPrivate)
  const issuerName = subjectName(new Uint8Array(new X509Certificate(ca.certPem).raw))
  const { privateKey, publicKey } = newKey()
  const generalNames = [
    ...identity.dnsNames.map((dns) => asciiTagged(0x82, dns)), // [2] dNSName
    ...identity.ipAddresses.map((ip) => tlv(0x87, Uint8Array.from(ipaddr.parse(ip).toByteArray()))), // [7] iPAddress
  ]
  const der = certificate({
    issuer: { name: issuerName, privateKey: issuerPrivate },
    subject: identity.commonName,
    subjectKey: publicKey,
    validity: identity,
    extensions: [
      extension(oids.basicConstraints, true, sequence()),
      extension(oids.keyUsage, true, namedBits([keyUsageBits.digitalSignature])),
      extension(oids.extKeyUsage, false, sequence(objectIdentifier(oids.serverAuth))),
      extension(oids.subjectAltName, false, sequence(...generalNames)),
      extension(oids.subjectKeyIdentifier, false, octetString(keyIdentifier(publicKey))),
      extension(oids.authorityKeyIdentifier, false, sequence(tlv(0x80, keyIdentifier(issuerPublic)))),
    ],
  })
  return { certPem: toPem("CERTIFICATE", der), keyPem: keyPem(privateKey) }
}

