// BGPPeer objects resolved to the sessions a speaker opens. The rules are MetalLB's peer validation in
// FRR mode (internal/config/config.go): a non-zero myASN; exactly one of peerASN and dynamicASN;
// no ebgpMultiHop on an iBGP session; exactly one of peerAddress and interface (BGP unnumbered);
// addresses that parse; hold and keepalive timers derived from each other as MetalLB does, with the
// hold time 0 or at least 3 s (RFC 4271 §4.2) and never below the keepalive; a password given once,
// inline or from a kubernetes.io/basic-auth Secret; a BFD profile that exists; distinct names and
// distinct sessions. Unlike MetalLB, which stops at the first problem, every problem of every peer is
// reported. A missing Secret or BFDProfile is transient: it may be created a moment later.
import { Result } from "effect"
import { Base64 } from "effect/encoding"
import { type Address, formatAddress, parseAddress } from "../../net/address.ts"
import type { BfdProfile, Peer } from "../config.ts"
import type { Located, Secret } from "../decode.ts"
import { parseDurationMs } from "../duration.ts"
import { type ConfigError, configError, type ObjectRef } from "../errors.ts"
import type { BGPPeer } from "../kinds/bgp-peer.ts"
import { parseSelector, type Selector } from "../selector.ts"
import type { ResolveContext } from "./context.ts"
import { checkNamespace } from "./common.ts"

export const defaultPeerPort = 179
export const defaultHoldTimeSeconds = 90
export const defaultKeepaliveTimeSeconds = 30
/** The hold time travels in a 16-bit field of the OPEN message (RFC 4271 §4.2). */
export const maxTimerSeconds = 65535
export const basicAuthSecretType = "kubernetes.io/basic-auth"

type Spec = BGPPeer["spec"]

/** Go's zero value: an empty string is an unset field, as MetalLB reads it. */
const given = (text: string | undefined): string | undefined => (text === undefined || text === "" ? undefined : text)

interface Checked {
  readonly errors: Array<ConfigError>
  readonly ref: ObjectRef
}

const push = (c: Checked, error: Omit<ConfigError, "_tag" | "severity" | "object"> & { readonly severity?: ConfigError["severity"] }): void => {
  c.errors.push(configError({ ...error, object: c.ref }))
}

const parseAddressField = (c: Checked, field: string, text: string | undefined): Address | undefined => {
  if (text === undefined) return undefined
  const parsed = parseAddress(text)
  if (Result.isSuccess(parsed)) return parsed.success
  push(c, { code: "InvalidAddress", field, value: text, message: `not an IP address: ${parsed.failure.reason}` })
  return undefined
}

/** Whole seconds from a Go duration, or undefined after reporting why not. */
const parseSecondsField = (c: Checked, field: string, text: string): number | undefined => {
  const ms = parseDurationMs(text)
  if (ms === undefined) {
    push(c, { code: "InvalidTimer", field, value: text, message: "not a duration (examples: 90s, 1m30s)" })
    return undefined
  }
  if (ms < 0) {
    push(c, { code: "InvalidTimer", field, value: text, message: "a timer cannot be negative" })
    return undefined
  }
  if (ms % 1000 !== 0) {
    push(c, { code: "InvalidTimer", field, value: text, message: "BGP timers are whole seconds" })
    return undefined
  }
  return ms / 1000
}

const checkAsns = (c: Checked, spec: Spec): void => {
  if (spec.myASN === 0) push(c, { code: "InvalidAsn", field: "spec.myASN", value: 0, message: "myASN must not be 0" })
  const peerAsn = spec.peerASN === 0 ? undefined : spec.peerASN
  if (peerAsn !== undefined && spec.dynamicASN !== undefined) {
    push(c, { code: "ConflictingFields", field: "spec.dynamicASN", value: spec.dynamicASN, message: "peerASN and dynamicASN are mutually exclusive: set one" })
  }
  if (peerAsn === undefined && spec.dynamicASN === undefined) {
    push(c, { code: "MissingField", field: "spec.peerASN", message: "set peerASN (non-zero) or dynamicASN (internal or external)" })
  }
  const internal = (peerAsn !== undefined && peerAsn === spec.myASN) || spec.dynamicASN === "internal"
  if (internal && spec.ebgpMultiHop === true) {
    push(c, { code: "ConflictingFields", field: "spec.ebgpMultiHop", value: true, message: "ebgpMultiHop is for eBGP sessions; this session is iBGP (peer ASN equals myASN)" })
  }
}

interface Endpoint {
  readonly address?: Address
  readonly iface?: string
  readonly sourceAddress?: Address
  readonly routerId?: Address
}

const checkEndpoint = (c: Checked, spec: Spec): Endpoint => {
  const addressText = given(spec.peerAddress)
  const iface = given(spec.interface)
  if (addressText !== undefined && iface !== undefined) {
    push(c, { code: "ConflictingFields", field: "spec.interface", value: iface, message: "peerAddress and interface are mutually exclusive: set one" })
  }
  if (addressText === undefined && iface === undefined) {
    push(c, { code: "MissingField", field: "spec.peerAddress", message: "set peerAddress, or interface for an unnumbered session" })
  }
  const address = parseAddressField(c, "spec.peerAddress", addressText)
  const sourceText = given(spec.sourceAddress)
  const sourceAddress = parseAddressField(c, "spec.sourceAddress", sourceText)
  if (address !== undefined && sourceAddress !== undefined && address.family !== sourceAddress.family) {
    push(c, {
      code: "ConflictingFields",
      field: "spec.sourceAddress",
      value: sourceText,
      message: `sourceAddress is ${sourceAddress.family} but peerAddress is ${address.family}`,
    })
  }
  const routerIdText = given(spec.routerID)
  let routerId = parseAddressField(c, "spec.routerID", routerIdText)
  if (routerId !== undefined && routerId.family !== "ipv4") {
    push(c, { code: "InvalidAddress", field: "spec.routerID", value: routerIdText, message: "a BGP router ID is a 32-bit value written as an IPv4 address" })
    routerId = undefined
  }
  return {
    ...(address === undefined ? {} : { address }),
    ...(iface === undefined ? {} : { iface }),
    ...(sourceAddress === undefined ? {} : { sourceAddress }),
    ...(routerId === undefined ? {} : { routerId }),
  }
}

interface Timers {
  readonly holdTimeSeconds: number
  readonly keepaliveTimeSeconds: number
  readonly connectTimeSeconds?: number
}

const checkTimers = (c: Checked, spec: Spec): Timers | undefined => {
  const holdAndKeepalive = checkHoldAndKeepalive(c, spec)
  const connect = spec.connectTime === undefined ? undefined : parseSecondsField(c, "spec.connectTime", spec.connectTime)
  const connectValid = connect === undefined || (connect >= 1 && connect <= maxTimerSeconds)
  if (!connectValid) {
    push(c, { code: "InvalidTimer", field: "spec.connectTime", value: spec.connectTime, message: `connectTime must be 1..${maxTimerSeconds}s` })
  }
  if (holdAndKeepalive === undefined || !connectValid || (spec.connectTime !== undefined && connect === undefined)) return undefined
  return { ...holdAndKeepalive, ...(connect === undefined ? {} : { connectTimeSeconds: connect }) }
}

const checkHoldAndKeepalive = (c: Checked, spec: Spec): Timers | undefined => {
  const holdGiven = spec.holdTime !== undefined
  const keepaliveGiven = spec.keepaliveTime !== undefined
  const holdParsed = spec.holdTime === undefined ? undefined : parseSecondsField(c, "spec.holdTime", spec.holdTime)
  const keepaliveParsed = spec.keepaliveTime === undefined ? undefined : parseSecondsField(c, "spec.keepaliveTime", spec.keepaliveTime)
  if ((holdGiven && holdParsed === undefined) || (keepaliveGiven && keepaliveParsed === undefined)) return undefined

  // MetalLB derives the missing one of the pair: keepalive = hold / 3, hold = 3 * keepalive.
  const hold = holdParsed ?? (keepaliveParsed === undefined ? defaultHoldTimeSeconds : 3 * keepaliveParsed)
  const keepalive = keepaliveParsed ?? (holdParsed === undefined ? defaultKeepaliveTimeSeconds : Math.floor(holdParsed / 3))
  if (hold > 0 && hold < 3) {
    push(c, { code: "InvalidTimer", field: "spec.holdTime", value: spec.holdTime, message: "holdTime must be 0 (no keepalives) or at least 3s (RFC 4271)" })
    return undefined // comparing the keepalive with a hold time that must change anyway would only add noise
  }
  if (hold > maxTimerSeconds) {
    push(c, {
      code: "InvalidTimer",
      field: holdGiven ? "spec.holdTime" : "spec.keepaliveTime",
      value: holdGiven ? spec.holdTime : spec.keepaliveTime,
      message: holdGiven ? `holdTime must be at most ${maxTimerSeconds}s` : `3 x keepaliveTime (the hold time) must be at most ${maxTimerSeconds}s`,
    })
    return undefined
  }
  if (hold === 0 && keepalive > 0) {
    push(c, { code: "InvalidTimer", field: "spec.keepaliveTime", value: spec.keepaliveTime, message: "with holdTime 0 (keepalives disabled) keepaliveTime must be 0" })
    return undefined
  }
  if (keepalive > hold) {
    push(c, { code: "InvalidTimer", field: "spec.keepaliveTime", value: spec.keepaliveTime, message: `keepaliveTime must not exceed holdTime (${hold}s)` })
    return undefined
  }
  return { holdTimeSeconds: hold, keepaliveTimeSeconds: keepalive }
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The Secret's password, or undefined after reporting why there is none. Secret material is never put in an error. */
const passwordFromSecret = (c: Checked, secret: Located<Secret>, context: ResolveContext): string | undefined => {
  const type = secret.object.type
  const secretRef: ObjectRef = { ...secret.ref, namespace: secret.object.metadata.namespace ?? context.namespace }
  if (type !== basicAuthSecretType) {
    push(c, {
      code: "InvalidSecret",
      field: "spec.passwordSecret.name",
      value: secret.object.metadata.name,
      other: { object: secretRef, field: "type", ...(type === undefined ? {} : { value: type }) },
      message: `the password Secret must be of type ${basicAuthSecretType}`,
    })
    return undefined
  }
  const plain = secret.object.stringData?.["password"]
  if (plain !== undefined) return plain // the API server merges stringData over data; so do we
  const encoded = secret.object.data?.["password"]
  if (encoded === undefined) {
    push(c, {
      code: "InvalidSecret",
      field: "spec.passwordSecret.name",
      value: secret.object.metadata.name,
      other: { object: secretRef, field: "data.password" },
      message: "the password Secret has no password key",
    })
    return undefined
  }
  const bytes = Base64.decode(encoded)
  let text: string | undefined
  if (Result.isSuccess(bytes)) {
    try {
      text = utf8.decode(bytes.success)
    } catch {
      text = undefined // not UTF-8: reported below rather than silently mangled into a different key
    }
  }
  if (text === undefined) {
    push(c, {
      code: "InvalidSecret",
      field: "spec.passwordSecret.name",
      value: secret.object.metadata.name,
      other: { object: secretRef, field: "data.password" },
      message: "the password Secret's data.password is not base64-encoded UTF-8 text",
    })
  }
  return text
}

const checkPassword = (c: Checked, spec: Spec, secrets: ReadonlyArray<Located<Secret>>, context: ResolveContext): string | undefined => {
  const inline = given(spec.password)
  const name = given(spec.passwordSecret?.name)
  const namespace = given(spec.passwordSecret?.namespace)
  // Go clients serialise an unset SecretReference as {}: that is "no secret", not a secret without a name.
  if (name === undefined && namespace === undefined) return inline
  if (inline !== undefined) {
    push(c, { code: "ConflictingFields", field: "spec.passwordSecret", value: spec.passwordSecret, message: "password and passwordSecret are mutually exclusive: set one" })
  }
  if (name === undefined) {
    push(c, { code: "MissingField", field: "spec.passwordSecret.name", message: "passwordSecret needs the name of a Secret" })
  }
  if (namespace !== undefined && namespace !== context.namespace) {
    push(c, {
      code: "WrongNamespace",
      field: "spec.passwordSecret.namespace",
      value: namespace,
      message: `the password Secret must be in namespace ${JSON.stringify(context.namespace)}`,
    })
    return undefined
  }
  if (name === undefined) return undefined
  const secret = secrets.find((s) => s.object.metadata.name === name && (s.object.metadata.namespace ?? context.namespace) === context.namespace)
  if (secret === undefined) {
    push(c, {
      code: "UnknownSecret",
      severity: "transient",
      field: "spec.passwordSecret.name",
      value: name,
      message: `no Secret ${JSON.stringify(name)} in namespace ${JSON.stringify(context.namespace)}`,
    })
    return undefined
  }
  const password = passwordFromSecret(c, secret, context)
  return inline === undefined ? password : undefined
}

/** Validated node selectors, and a canonical form of the set of nodes they select (for duplicate peers). */
const checkNodeSelectors = (c: Checked, spec: Spec): { readonly selectors: Array<Selector>; readonly setKey?: string } => {
  const selectors: Array<Selector> = []
  const firstIndex = new Map<string, number>()
  let valid = true
  ;(spec.nodeSelectors ?? []).forEach((raw, i) => {
    const { selector, problems } = parseSelector(raw)
    for (const problem of problems) {
      push(c, { code: "InvalidSelector", field: `spec.nodeSelectors[${i}].${problem.field}`, value: problem.value, message: problem.message })
    }
    if (selector === undefined) {
      valid = false
      return
    }
    const first = firstIndex.get(selector.text)
    if (first !== undefined) {
      valid = false
      push(c, {
        code: "DuplicateEntry",
        field: `spec.nodeSelectors[${i}]`,
        value: raw,
        message: `the same selector as spec.nodeSelectors[${first}]${selector.text === "" ? " (every node)" : ` (${selector.text})`}`,
      })
      return
    }
    firstIndex.set(selector.text, i)
    selectors.push(selector)
  })
  if (!valid) return { selectors }
  // No selector and an empty selector both mean every node.
  const texts = selectors.length === 0 || firstIndex.has("") ? [""] : [...firstIndex.keys()].sort()
  return { selectors, setKey: JSON.stringify(texts) }
}

interface PeerCheck {
  readonly peer?: Peer
  /** What makes two peers the same session, when it could be worked out. */
  readonly sessionKey?: string
  readonly sessionField: string
  readonly sessionValue?: string
}

const checkPeer = (c: Checked, located: Located<BGPPeer>, bfdProfiles: ReadonlyMap<string, BfdProfile>, secrets: ReadonlyArray<Located<Secret>>, context: ResolveContext): PeerCheck => {
  const { metadata, spec } = located.object
  c.errors.push(...checkNamespace(c.ref, context))
  checkAsns(c, spec)
  const endpoint = checkEndpoint(c, spec)
  const timers = checkTimers(c, spec)
  const password = checkPassword(c, spec, secrets, context)
  const bfdProfile = given(spec.bfdProfile)
  if (bfdProfile !== undefined && !bfdProfiles.has(bfdProfile)) {
    push(c, { code: "UnknownBfdProfile", severity: "transient", field: "spec.bfdProfile", value: bfdProfile, message: `no BFDProfile ${JSON.stringify(bfdProfile)}` })
  }
  const { selectors, setKey } = checkNodeSelectors(c, spec)
  if (spec.disableMP === true) {
    push(c, {
      code: "Deprecated",
      severity: "warning",
      field: "spec.disableMP",
      value: true,
      message: "disableMP is deprecated and ignored; use dualStackAddressFamily to choose the address families of the session",
    })
  }
  const port = spec.peerPort ?? defaultPeerPort
  const vrf = spec.vrf ?? ""
  const sessionField = endpoint.address === undefined && endpoint.iface !== undefined ? "spec.interface" : "spec.peerAddress"
  const sessionValue = endpoint.address !== undefined ? spec.peerAddress : endpoint.iface
  const where = endpoint.address !== undefined ? `address ${formatAddress(endpoint.address)}` : endpoint.iface !== undefined ? `interface ${endpoint.iface}` : undefined
  const sessionKey = where === undefined || setKey === undefined ? undefined : JSON.stringify([where, port, vrf, setKey])
  const session: PeerCheck = {
    sessionField,
    ...(sessionKey === undefined ? {} : { sessionKey }),
    ...(sessionValue === undefined ? {} : { sessionValue }),
  }
  if (timers === undefined || c.errors.some((e) => e.severity !== "warning")) return session
  const peerAsn = spec.peerASN === 0 ? undefined : spec.peerASN
  const localAsn = spec.localASN === 0 ? undefined : spec.localASN
  const peer: Peer = {
    name: metadata.name,
    myAsn: spec.myASN,
    ...(peerAsn === undefined ? {} : { peerAsn }),
    ...(spec.dynamicASN === undefined ? {} : { dynamicAsn: spec.dynamicASN }),
    ...(localAsn === undefined ? {} : { localAsn }),
    ...(endpoint.address === undefined ? {} : { address: endpoint.address }),
    ...(endpoint.iface === undefined ? {} : { interface: endpoint.iface }),
    ...(endpoint.sourceAddress === undefined ? {} : { sourceAddress: endpoint.sourceAddress }),
    port,
    ...timers,
    ...(endpoint.routerId === undefined ? {} : { routerId: endpoint.routerId }),
    nodeSelectors: selectors,
    ...(password === undefined || password === "" ? {} : { password }),
    ...(bfdProfile === undefined ? {} : { bfdProfile }),
    enableGracefulRestart: spec.enableGracefulRestart ?? false,
    ebgpMultiHop: spec.ebgpMultiHop ?? false,
    vrf,
    disableMP: spec.disableMP ?? false,
    dualStackAddressFamily: spec.dualStackAddressFamily ?? false,
  }
  return { ...session, peer }
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Where an object stands in the documents as written: by source file and document index, objects
 * without a source after those, then by name. It does not depend on the order the objects were
 * handed over in, so which of two duplicate sessions is "the first" does not either.
 */
const documentOrder = (a: ObjectRef, b: ObjectRef): number => {
  const sa = a.source
  const sb = b.source
  if (sa === undefined || sb === undefined) return sa === sb ? compareText(a.name, b.name) : sa === undefined ? 1 : -1
  return compareText(sa.file ?? "", sb.file ?? "") || (sa.document ?? -1) - (sb.document ?? -1) || compareText(a.name, b.name)
}

/**
 * Peers by name, in input order, with every problem found (errors grouped by peer, in input order).
 * A peer with any error other than a warning (a transient one included: its password or BFD profile
 * is not known yet) is left out of the map. Secrets are looked up among `secrets` (the documents')
 * and then `context.secrets` (the cluster's). Peers in another namespace are reported and take no
 * part in the name and session checks. Of two peers with the same name the first in input order
 * stays and the second is reported against it; of two peers with the same session (address or
 * interface, port, VRF and set of selected nodes) the first in document order stays (source file and
 * document, then name), so that the outcome does not depend on the order of the input.
 */
export const resolvePeers = (
  peers: ReadonlyArray<Located<BGPPeer>>,
  bfdProfiles: ReadonlyMap<string, BfdProfile>,
  secrets: ReadonlyArray<Located<Secret>>,
  context: ResolveContext,
): { readonly peers: ReadonlyMap<string, Peer>; readonly errors: Array<ConfigError> } => {
  const allSecrets = [...secrets, ...context.secrets]
  const checked = peers.map((located) => {
    const c: Checked = { errors: [], ref: located.ref }
    const namespace = located.object.metadata.namespace
    return { located, c, check: checkPeer(c, located, bfdProfiles, allSecrets, context), ours: namespace === undefined || namespace === context.namespace }
  })

  const firstByName = new Map<string, ObjectRef>()
  for (const { located, c, ours } of checked) {
    if (!ours) continue
    const name = located.object.metadata.name
    const first = firstByName.get(name)
    if (first === undefined) {
      firstByName.set(name, located.ref)
      continue
    }
    push(c, {
      code: "DuplicateName",
      field: "metadata.name",
      value: name,
      other: { object: first, field: "metadata.name", value: name },
      message: `BGPPeer ${JSON.stringify(name)} is defined more than once`,
    })
  }

  const firstBySession = new Map<string, { readonly object: ObjectRef; readonly field: string; readonly value?: string }>()
  const inDocumentOrder = checked
    .map((entry, index) => ({ ...entry, index }))
    .filter((entry) => entry.ours && entry.check.sessionKey !== undefined)
    .sort((a, b) => documentOrder(a.located.ref, b.located.ref) || a.index - b.index)
  for (const { located, c, check } of inDocumentOrder) {
    const key = check.sessionKey ?? ""
    const value = check.sessionValue === undefined ? {} : { value: check.sessionValue }
    const first = firstBySession.get(key)
    if (first === undefined) {
      firstBySession.set(key, { object: located.ref, field: check.sessionField, ...value })
      continue
    }
    push(c, {
      code: "DuplicatePeer",
      field: check.sessionField,
      ...value,
      other: first,
      message: "the same session (address or interface, port, vrf and nodes) as another BGPPeer",
    })
  }

  const resolved = new Map<string, Peer>()
  const errors: Array<ConfigError> = []
  for (const { c, check } of checked) {
    errors.push(...c.errors)
    if (check.peer !== undefined && c.errors.every((e) => e.severity === "warning")) resolved.set(check.peer.name, check.peer)
  }
  return { peers: resolved, errors }
}
