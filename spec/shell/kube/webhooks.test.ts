// Admission and conversion without an API server: the decision for each kind of change (MetalLB's
// rules plus "only what the change introduces refuses it"), every fixture applied object by object as
// kubectl would, malformed reviews (typed errors, never a throw, also for random input), lossless
// BGPPeer conversion, and the HTTPS server itself (status codes for bad requests, a failing source,
// the certificate swapped in place).
import { readdirSync, readFileSync } from "node:fs"
import { request } from "node:https"
import type { TLSSocket } from "node:tls"
import { X509Certificate } from "node:crypto"
import { Effect, Exit, Result, Scope } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { resolve } from "../../../core/config/resolve.ts"
import { formatConfigError } from "../../../core/config/errors.ts"
import { lostInV1beta1Annotation } from "../../../core/config/kinds/bgp-peer.ts"
import { serveWebhooks, type WebhookServer } from "../../../shell/kube/webhooks.ts"
import { type AdmissionRequest, type AdmittedKind, admit, decodeAdmissionReview } from "../../../shell/kube/webhook/admission.ts"
import { convert, decodeConversionReview } from "../../../shell/kube/webhook/conversion.ts"
import type { ClusterObjects } from "../../../shell/kube/webhook/source.ts"
import { issueCa, issueServing, type KeyPair } from "../../../shell/kube/webhook/x509.ts"
import { parseYaml } from "../../manifests/support.ts"

const ns = "metallb-system"
type Obj = Record<string, unknown> & { kind: string; apiVersion: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } }

const pool = (name: string, addresses: Array<string>, namespace = ns): Obj =>
  ({ apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name, namespace }, spec: { addresses } })
const peer = (name: string, spec: Record<string, unknown> = {}): Obj =>
  ({ apiVersion: "metallb.io/v1beta2", kind: "BGPPeer", metadata: { name, namespace: ns }, spec: { myASN: 64500, peerASN: 64501, peerAddress: "192.0.2.1", ...spec } })
const bfd = (name: string): Obj => ({ apiVersion: "metallb.io/v1beta1", kind: "BFDProfile", metadata: { name, namespace: ns }, spec: {} })
const l2 = (name: string, spec: Record<string, unknown> = {}): Obj => ({ apiVersion: "metallb.io/v1beta1", kind: "L2Advertisement", metadata: { name, namespace: ns }, spec })

const cluster = (...objects: Array<Obj>): ClusterObjects => ({ objects, secrets: [] })

let uid = 0
const review = (operation: AdmissionRequest["operation"], object: Obj | undefined, oldObject?: Obj): AdmissionRequest => {
  const subject = object ?? oldObject
  const version = (subject?.apiVersion ?? "metallb.io/v1beta1").split("/")[1] ?? ""
  return {
    uid: `uid-${++uid}`,
    kind: { group: "metallb.io", version, kind: subject?.kind ?? "" },
    operation,
    name: subject?.metadata.name ?? "",
    ...(subject?.metadata.namespace === undefined ? {} : { namespace: subject.metadata.namespace }),
    ...(object === undefined ? {} : { object }),
    ...(oldObject === undefined ? {} : { oldObject }),
  }
}

const create = (current: ClusterObjects, object: Obj) => admit(review("CREATE", object), object.kind as AdmittedKind, current, ns)
const update = (current: ClusterObjects, oldObject: Obj, object: Obj) => admit(review("UPDATE", object, oldObject), object.kind as AdmittedKind, current, ns)
const remove = (current: ClusterObjects, oldObject: Obj) => admit(review("DELETE", undefined, oldObject), oldObject.kind as AdmittedKind, current, ns)

describe("admit", () => {
  it("judges two peers with the same address on the cluster's Nodes when it has them (issue 16)", () => {
    const onRack = peer("on-rack", { nodeSelectors: [{ matchLabels: { rack: "r1" } }] })
    const inZone = peer("in-zone", { nodeSelectors: [{ matchLabels: { zone: "z1" } }] })
    // Without Nodes the selectors (different keys) may meet: refused as a duplicate peer.
    const blind = create(cluster(onRack), inZone)
    expect(blind.allowed).toBe(false)
    expect(blind.status?.message).toMatch(/may select a common node/)
    // With Nodes none carries both labels: the two sessions never run on one node.
    const apart = { ...cluster(onRack), nodes: [{ name: "n1", labels: { rack: "r1" } }, { name: "n2", labels: { zone: "z1" } }] }
    expect(create(apart, inZone)).toEqual({ uid: expect.any(String), allowed: true })
    // A node that both select: refused, naming it.
    const together = { ...cluster(onRack), nodes: [{ name: "n3", labels: { rack: "r1", zone: "z1" } }] }
    expect(create(together, inZone).status?.message).toMatch(/both select node "n3"/)
  })

  it("accepts a valid object and echoes the uid", () => {
    const request = review("CREATE", pool("a", ["198.51.100.0/24"]))
    expect(admit(request, "IPAddressPool", cluster(), ns)).toEqual({ uid: request.uid, allowed: true })
  })

  it("refuses an overlapping pool with core's error text, one line per error", () => {
    const response = create(cluster(pool("first", ["198.51.100.0/24"])), pool("second", ["198.51.100.10-198.51.100.20", "198.51.100.128/25"]))
    expect(response.allowed).toBe(false)
    expect(response.status?.code).toBe(403)
    const expected = resolve([{ value: pool("first", ["198.51.100.0/24"]) }, { value: pool("second", ["198.51.100.10-198.51.100.20", "198.51.100.128/25"]) }])
    if (expected._tag !== "Invalid") throw new Error("fixture should be invalid")
    expect(response.status?.message.split("\n")).toEqual(expected.errors.map(formatConfigError))
    expect(response.status?.message).toContain("IPAddressPool metallb-system/second: spec.addresses[0]:")
  })

  it("does not let an error already in the cluster block an unrelated edit, and keeps refusing new ones", () => {
    const broken = cluster(pool("first", ["198.51.100.0/24"]), pool("second", ["198.51.100.0/25"]))
    expect(create(broken, pool("third", ["203.0.113.0/24"])).allowed).toBe(true)
    expect(create(broken, l2("l2", { ipAddressPools: ["first"] }))).toEqual({ uid: expect.any(String), allowed: true })
    expect(create(broken, pool("third", ["198.51.100.200/32"])).allowed).toBe(false)
    // An edit of the broken object that does not fix it is told, not refused; one that fixes it is clean.
    const edited = update(broken, pool("second", ["198.51.100.0/25"]), { ...pool("second", ["198.51.100.0/25"]), metadata: { name: "second", namespace: ns, labels: { a: "b" } } })
    expect(edited.allowed).toBe(true)
    expect(edited.warnings?.join("\n")).toMatch(/overlaps/)
    expect(update(broken, pool("second", ["198.51.100.0/25"]), pool("second", ["192.0.2.0/25"]))).toEqual({ uid: expect.any(String), allowed: true })
  })

  it("lets transient errors and core's warnings through as warnings", () => {
    const transient = create(cluster(), peer("sec", { passwordSecret: { name: "not-there" } }))
    expect(transient.allowed).toBe(true)
    expect(transient.warnings?.join("\n")).toContain("(transient: may resolve without an edit)")
    expect(transient.warnings?.join("\n")).toContain("BGPPeer metallb-system/sec: spec.passwordSecret.name")
    const warned = create(cluster(), pool("sloppy", ["192.0.2.77/24"]))
    expect(warned.allowed).toBe(true)
    expect(warned.warnings).toHaveLength(1)
  })

  it("reads passwordSecret from the namespace's Secrets", () => {
    const secret = { metadata: { name: "pw", namespace: ns }, type: "kubernetes.io/basic-auth", data: { password: Buffer.from("s3cret").toString("base64") } }
    const withSecret = admit(review("CREATE", peer("sec", { passwordSecret: { name: "pw" } })), "BGPPeer", { objects: [], secrets: [secret] }, ns)
    expect(withSecret).toEqual({ uid: expect.any(String), allowed: true })
    const wrongType = admit(review("CREATE", peer("sec", { passwordSecret: { name: "pw" } })), "BGPPeer", { objects: [], secrets: [{ ...secret, type: "Opaque" }] }, ns)
    expect(wrongType.allowed).toBe(false)
  })

  it("refuses changing enableGracefulRestart on a BGPPeer update (unset counts as false)", () => {
    const before = peer("gr", { enableGracefulRestart: true })
    const flipped = update(cluster(before), before, peer("gr", { enableGracefulRestart: false }))
    expect(flipped.allowed).toBe(false)
    expect(flipped.status?.message).toContain("BGPPeer metallb-system/gr: spec.enableGracefulRestart: enableGracefulRestart cannot be changed")
    expect(update(cluster(before), before, peer("gr", { enableGracefulRestart: true, holdTime: "30s" })).allowed).toBe(true)
    expect(update(cluster(peer("plain")), peer("plain"), peer("plain", { enableGracefulRestart: false })).allowed).toBe(true)
    expect(update(cluster(peer("plain")), peer("plain"), peer("plain", { enableGracefulRestart: true })).allowed).toBe(false)
  })

  it("refuses deleting a BFDProfile a BGPPeer uses, and allows it once unused", () => {
    const inUse = remove(cluster(bfd("fast"), peer("tor", { bfdProfile: "fast" })), bfd("fast"))
    expect(inUse.allowed).toBe(false)
    expect(inUse.status?.message).toContain('BFDProfile "fast" is used by BGPPeer "tor"')
    expect(remove(cluster(bfd("fast"), peer("tor")), bfd("fast")).allowed).toBe(true)
  })

  it("refuses objects outside the namespace, but lets them be deleted", () => {
    const elsewhere = pool("elsewhere", ["198.51.100.0/24"], "default")
    const response = create(cluster(), elsewhere)
    expect(response.allowed).toBe(false)
    expect(response.status?.message).toBe('IPAddressPool default/elsewhere: metadata.namespace: metallb-ts only reads metallb.io objects in namespace "metallb-system" (value: "default")')
    expect(remove(cluster(), elsewhere).allowed).toBe(true)
  })

  it("judges a schema violation with core's decoder (what the CRD would refuse, if it were missing)", () => {
    const response = create(cluster(), { ...pool("typed", []), spec: { addresses: "198.51.100.0/24" } })
    expect(response.allowed).toBe(false)
    expect(response.status?.message).toMatch(/^IPAddressPool metallb-system\/typed: spec\.addresses: /)
  })

  it("reads null labels and annotations as empty, as the API server does (server-side apply sends them)", () => {
    const nulls = { ...pool("a", ["198.51.100.0/24"]), metadata: { name: "a", namespace: ns, labels: null, annotations: null } } as unknown as Obj
    expect(create(cluster(), nulls)).toEqual({ uid: expect.any(String), allowed: true })
    expect(update(cluster(nulls), nulls, nulls)).toEqual({ uid: expect.any(String), allowed: true })
  })

  it("treats a CREATE of a name the (stale) cache already holds as a replacement", () => {
    expect(create(cluster(pool("a", ["198.51.100.0/24"])), pool("a", ["198.51.100.0/25"])).allowed).toBe(true)
  })

  describe("every configuration fixture, applied object by object", () => {
    const dir = new URL("../../fixtures/config/", import.meta.url).pathname
    const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()
    const apply = (text: string, file: string) => {
      const objects = parseYaml(text, file) as Array<Obj>
      const secrets = objects.filter((o) => o.kind === "Secret").map((s) => ({ ...s, data: Object.fromEntries(Object.entries((s["stringData"] ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v).toString("base64")])) }))
      const current: Array<Obj> = []
      const refusals: Array<string> = []
      const warnings: Array<string> = []
      for (const object of objects.filter((o) => o.apiVersion.startsWith("metallb.io/"))) {
        const existing = current.find((o) => o.kind === object.kind && o.metadata.name === object.metadata.name && o.metadata.namespace === object.metadata.namespace)
        const response = existing === undefined
          ? admit(review("CREATE", object), object.kind as AdmittedKind, { objects: current, secrets }, ns)
          : admit(review("UPDATE", object, existing), object.kind as AdmittedKind, { objects: current, secrets }, ns)
        warnings.push(...(response.warnings ?? []))
        if (!response.allowed) refusals.push(response.status?.message ?? "")
        else current.splice(current.indexOf(existing as Obj) >>> 0, existing === undefined ? 0 : 1, object)
      }
      return { refusals, warnings }
    }

    it.each(files.filter((f) => f.startsWith("valid-")))("%s: every object is admitted", (file) => {
      const { refusals } = apply(readFileSync(`${dir}${file}`, "utf8"), file)
      expect(refusals).toEqual([])
    })

    // Names repeated within one file are one object in a cluster (the second write updates the first);
    // errors between objects refused earlier in the same file cannot arise either.
    const unreachable: Record<string, ReadonlyArray<string>> = {
      "invalid-pool-duplicate-name.yaml": ["IPAddressPool/twice metadata.name"],
      "invalid-many-errors-at-once.yaml": ["IPAddressPool/b spec.addresses[0]"],
    }
    it.each(files.filter((f) => f.startsWith("invalid-")))("%s: each expected error refuses its object (or warns, if transient)", (file) => {
      const text = readFileSync(`${dir}${file}`, "utf8")
      const { refusals, warnings } = apply(text, file)
      const told = [...refusals, ...warnings].join("\n")
      for (const [, code, ref, field] of text.matchAll(/^# expect: (\S+) (\S+) (\S+)$/gm)) {
        if (unreachable[file]?.includes(`${ref} ${field}`)) continue
        const [kind, name] = (ref ?? "").split("/")
        const namespace = (parseYaml(text) as Array<Obj>).find((o) => o.kind === kind && o.metadata.name === name)?.metadata.namespace ?? ns
        const line = `${kind} ${namespace}/${name}: ${field}: `
        if (["UnknownSecret", "UnknownBfdProfile", "UnknownCommunity"].includes(code ?? "")) {
          expect(warnings.join("\n"), `${code} ${ref} ${field} should be a warning`).toContain(line)
        } else {
          expect(refusals.join("\n"), `${code} ${ref} ${field} should refuse; told:\n${told}`).toContain(line)
        }
      }
    })
  })
})

describe("decodeAdmissionReview", () => {
  const valid = { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: review("CREATE", pool("a", ["198.51.100.0/24"])) }

  it.each([
    ["not an object", "hello", /not an admission\.k8s\.io\/v1 AdmissionReview/],
    ["v1beta1", { ...valid, apiVersion: "admission.k8s.io/v1beta1" }, /AdmissionReview/],
    ["no request", { ...valid, request: undefined }, /request/],
    ["no uid", { ...valid, request: { ...valid.request, uid: "" } }, /uid/],
    ["another kind", { ...valid, request: { ...valid.request, kind: { group: "metallb.io", version: "v1beta2", kind: "BGPPeer" } } }, /judges metallb\.io IPAddressPool, not metallb\.io\/v1beta2 BGPPeer/],
    ["a CREATE without object", { ...valid, request: { ...valid.request, object: null } }, /needs request\.object/],
    ["a DELETE without oldObject", { ...valid, request: { ...valid.request, operation: "DELETE" } }, /needs request\.oldObject/],
    ["an unknown operation", { ...valid, request: { ...valid.request, operation: "PATCH" } }, /operation/],
  ])("refuses %s with a typed error", (_, body, message) => {
    const result = decodeAdmissionReview(body, "IPAddressPool")
    expect(Result.isFailure(result)).toBe(true)
    if (Result.isFailure(result)) expect(result.failure.message).toMatch(message)
  })

  it("never throws on random input, and admit never throws on random objects in a well-formed review", () => {
    fc.assert(fc.property(fc.jsonValue(), (body) => {
      expect(() => decodeAdmissionReview(body, "BGPPeer")).not.toThrow()
    }), { numRuns: 500 })
    const kinds = ["IPAddressPool", "L2Advertisement", "BGPAdvertisement", "BGPPeer", "BFDProfile", "Community"] as const
    fc.assert(fc.property(
      fc.constantFrom(...kinds),
      fc.constantFrom("CREATE", "UPDATE", "DELETE"),
      fc.dictionary(fc.constantFrom("apiVersion", "kind", "metadata", "spec"), fc.jsonValue()),
      fc.record({ name: fc.string(), namespace: fc.constantFrom(ns, "default") }),
      fc.jsonValue(),
      (kind, operation, junk, metadata, spec) => {
        const object = { ...junk, kind, apiVersion: "metallb.io/v1beta1", metadata, spec }
        const request: AdmissionRequest = { uid: "u", kind: { group: "metallb.io", version: "v1beta1", kind }, operation, object, oldObject: object }
        const response = admit(request, kind, cluster(pool("p", ["198.51.100.0/24"]), peer("q")), ns)
        expect(response.uid).toBe("u")
        expect(typeof response.allowed).toBe("boolean")
      },
    ), { numRuns: 300 })
  })
})

describe("convert (ConversionReview)", () => {
  const conversion = (desiredAPIVersion: string, objects: Array<unknown>) => ({ uid: "c1", desiredAPIVersion, objects })
  const stored = {
    ...peer("modern", { connectTime: "5s", vrf: "red", enableGracefulRestart: true, dualStackAddressFamily: true }),
    metadata: { name: "modern", namespace: ns, uid: "1234", resourceVersion: "7", annotations: { keep: "me" }, managedFields: [{ manager: "kubectl" }] },
    status: {},
  }

  it("converts v1beta2 -> v1beta1 -> v1beta2 without loss, metadata other than annotations untouched", () => {
    const down = convert(conversion("metallb.io/v1beta1", [stored]))
    expect(down.response).toMatchObject({ uid: "c1", result: { status: "Success" } })
    const legacy = down.response.convertedObjects[0] as Obj & { metadata: { annotations: Record<string, string> }; spec: Record<string, unknown> }
    expect(legacy.apiVersion).toBe("metallb.io/v1beta1")
    expect(legacy.spec).not.toHaveProperty("vrf")
    expect(legacy.metadata.annotations[lostInV1beta1Annotation]).toContain("red")
    expect({ ...legacy.metadata, annotations: undefined }).toEqual({ ...stored.metadata, annotations: undefined })
    const up = convert(conversion("metallb.io/v1beta2", [legacy]))
    expect(up.response.convertedObjects).toEqual([stored])
  })

  it("round-trips any v1beta2 BGPPeer through v1beta1 (property)", () => {
    const spec = fc.record({
      myASN: fc.integer({ min: 1, max: 4294967295 }),
      peerASN: fc.integer({ min: 0, max: 4294967295 }),
      dynamicASN: fc.constantFrom("internal", "external"),
      localASN: fc.integer({ min: 1, max: 65535 }),
      peerAddress: fc.constantFrom("192.0.2.1", "2001:db8::1"),
      interface: fc.constantFrom("eth0", "bond0"),
      peerPort: fc.integer({ min: 1, max: 16384 }),
      holdTime: fc.constantFrom("0s", "90s", "3m"),
      connectTime: fc.constantFrom("1s", "5s"),
      passwordSecret: fc.record({ name: fc.string(), namespace: fc.constant(ns) }, { requiredKeys: [] }),
      enableGracefulRestart: fc.boolean(),
      ebgpMultiHop: fc.boolean(),
      vrf: fc.string(),
      disableMP: fc.boolean(),
      dualStackAddressFamily: fc.boolean(),
    }, { requiredKeys: ["myASN"] })
    // An empty annotations map comes back absent (the same thing to the API server).
    const annotations = fc.option(fc.dictionary(fc.string({ minLength: 1 }), fc.string(), { minKeys: 1 }), { nil: undefined })
    fc.assert(fc.property(spec, annotations, (s, a) => {
      const original = { ...peer("p"), metadata: { name: "p", namespace: ns, uid: "u", ...(a === undefined ? {} : { annotations: a }) }, spec: s }
      const down = convert(conversion("metallb.io/v1beta1", [original]))
      expect(down.response.result.status).toBe("Success")
      const up = convert(conversion("metallb.io/v1beta2", [...down.response.convertedObjects]))
      expect(up.response.convertedObjects).toEqual([original])
    }), { numRuns: 300 })
  })

  it("passes objects already in the desired version through", () => {
    expect(convert(conversion("metallb.io/v1beta2", [stored])).response.convertedObjects).toEqual([stored])
  })

  it("fails the whole review, naming each object that cannot be converted", () => {
    const response = convert(conversion("metallb.io/v1beta1", [stored, { ...stored, metadata: { name: "broken", namespace: ns }, spec: { myASN: "x" } }, { kind: "Pod", apiVersion: "v1" }]))
    expect(response.response.result.status).toBe("Failure")
    expect(response.response.convertedObjects).toEqual([])
    const message = response.response.result.status === "Failure" ? response.response.result.message : ""
    expect(message).toContain("BGPPeer metallb-system/broken is not a valid v1beta2 BGPPeer")
    expect(message).toContain('BGPPeer #2 is not a BGPPeer (kind "Pod")')
    expect(convert(conversion("metallb.io/v2", [stored])).response.result).toMatchObject({ status: "Failure" })
  })

  it("decodes only ConversionReview v1, and never throws on random input", () => {
    expect(Result.isFailure(decodeConversionReview({ apiVersion: "apiextensions.k8s.io/v1beta1", kind: "ConversionReview", request: conversion("metallb.io/v1beta1", []) }))).toBe(true)
    expect(Result.isSuccess(decodeConversionReview({ apiVersion: "apiextensions.k8s.io/v1", kind: "ConversionReview", request: conversion("metallb.io/v1beta1", []) }))).toBe(true)
    fc.assert(fc.property(fc.jsonValue(), fc.array(fc.jsonValue(), { maxLength: 4 }), fc.constantFrom("metallb.io/v1beta1", "metallb.io/v1beta2", "x"), (body, objects, desired) => {
      expect(() => decodeConversionReview(body)).not.toThrow()
      const mutated = objects.map((o) => (typeof o === "object" && o !== null && !Array.isArray(o) ? { ...stored, ...o } : o))
      const response = convert(conversion(desired, mutated))
      expect(response.response.uid).toBe("c1")
      if (response.response.result.status === "Success") expect(response.response.convertedObjects).toHaveLength(mutated.length)
    }), { numRuns: 500 })
  })
})

// --- the HTTPS server ---

const hour = 3600_000
const makePki = (): { ca: KeyPair; serving: KeyPair } => {
  const now = Date.now()
  const ca = issueCa("test-ca", { notBeforeMs: now - hour, notAfterMs: now + hour })
  const serving = issueServing(ca, { commonName: "test", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], notBeforeMs: now - hour, notAfterMs: now + hour })
  return { ca, serving }
}

interface Response {
  readonly status: number
  readonly body: string
  readonly fingerprint: string
}

const post = (port: number, ca: string, path: string, body: string | Buffer, method = "POST"): Promise<Response> =>
  new Promise((resolvePromise, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, ca, agent: false, headers: { "content-type": "application/json" } }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256
      let text = ""
      res.on("data", (c: Buffer) => (text += c.toString()))
      res.on("end", () => resolvePromise({ status: res.statusCode ?? 0, body: text, fingerprint }))
    })
    req.on("error", reject)
    req.end(body)
  })

describe("serveWebhooks (HTTPS)", () => {
  const pki = makePki()
  let objects: ClusterObjects | "fail" = cluster(pool("first", ["198.51.100.0/24"]))
  let scope: Scope.Closeable
  let server: WebhookServer
  beforeAll(async () => {
    scope = Effect.runSync(Scope.make())
    server = await Effect.runPromise(Scope.provide(scope)(serveWebhooks({
      namespace: ns,
      port: 0,
      host: "127.0.0.1",
      certificate: pki.serving,
      maxBodyBytes: 64 * 1024,
      objects: Effect.suspend(() => (objects === "fail" ? Effect.fail("list refused (403)") : Effect.succeed(objects))),
    })))
  })
  afterAll(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })
  const admissionBody = (object: Obj) => JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: review("CREATE", object) })

  it("answers an AdmissionReview with an AdmissionReview (same uid), also with the API server's ?timeout query", async () => {
    const body = JSON.parse(admissionBody(pool("second", ["198.51.100.0/25"])))
    const response = await post(server.port, pki.ca.certPem, "/validate-metallb-io-v1beta1-ipaddresspool?timeout=10s", JSON.stringify(body))
    expect(response.status).toBe(200)
    const answer = JSON.parse(response.body)
    expect(answer).toMatchObject({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: body.request.uid, allowed: false, status: { code: 403 } } })
    expect(answer.response.status.message).toContain("overlaps")
  })

  it("answers a ConversionReview on /convert", async () => {
    const response = await post(server.port, pki.ca.certPem, "/convert", JSON.stringify({ apiVersion: "apiextensions.k8s.io/v1", kind: "ConversionReview", request: { uid: "x", desiredAPIVersion: "metallb.io/v1beta1", objects: [peer("p")] } }))
    expect(response.status).toBe(200)
    expect(JSON.parse(response.body).response).toMatchObject({ uid: "x", result: { status: "Success" }, convertedObjects: [{ apiVersion: "metallb.io/v1beta1" }] })
  })

  it.each([
    ["an unknown path", "/validate-metallb-io-v1beta1-service", "{}", "POST", 404, /no webhook at/],
    ["a GET", "/convert", "", "GET", 405, /webhooks take POST/],
    ["a body that is not JSON", "/convert", "{nope", "POST", 400, /not JSON/],
    ["a ConversionReview sent for admission", "/validate-metallb-io-v1beta1-ipaddresspool", JSON.stringify({ apiVersion: "apiextensions.k8s.io/v1", kind: "ConversionReview" }), "POST", 400, /not an admission\.k8s\.io\/v1 AdmissionReview/],
    ["a review of another kind", "/validate-metallb-io-v1beta2-bgppeer", admissionBody(pool("x", ["192.0.2.0/24"])), "POST", 400, /judges metallb\.io BGPPeer, not metallb\.io\/v1beta1 IPAddressPool/],
    ["an AdmissionReview sent to /convert", "/convert", admissionBody(pool("x", ["192.0.2.0/24"])), "POST", 400, /ConversionReview/],
    ["a body over the limit", "/convert", "x".repeat(200 * 1024), "POST", 413, /larger than/],
  ])("answers %s with a 4xx and a sentence", async (_, path, body, method, status, message) => {
    const response = await post(server.port, pki.ca.certPem, path, body, method)
    expect(response.status).toBe(status)
    expect(response.body).toMatch(message)
  })

  it("refuses (does not admit unjudged) when the configuration cannot be read", async () => {
    objects = "fail"
    try {
      const response = await post(server.port, pki.ca.certPem, "/validate-metallb-io-v1beta1-ipaddresspool", admissionBody(pool("a", ["192.0.2.0/24"])))
      expect(response.status).toBe(200)
      expect(JSON.parse(response.body).response).toMatchObject({ allowed: false, status: { code: 503, message: expect.stringContaining("list refused (403)") } })
    } finally {
      objects = cluster()
    }
  })

  it("survives random bodies on every path", async () => {
    const paths = ["/convert", "/validate-metallb-io-v1beta1-ipaddresspool", "/validate-metallb-io-v1beta2-bgppeer", "/validate-metallb-io-v1beta1-bfdprofile"]
    await fc.assert(fc.asyncProperty(fc.constantFrom(...paths), fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v) ?? "null")), async (path, body) => {
      const response = await post(server.port, pki.ca.certPem, path, body)
      expect([200, 400]).toContain(response.status)
    }), { numRuns: 100 })
  })

  it("serves a new certificate to new connections after setCertificate", async () => {
    const before = await post(server.port, pki.ca.certPem, "/convert", "{}")
    expect(before.fingerprint).toBe(new X509Certificate(pki.serving.certPem).fingerprint256)
    const next = makePki()
    await Effect.runPromise(server.setCertificate(next.serving))
    const after = await post(server.port, next.ca.certPem, "/convert", "{}")
    expect(after.fingerprint).toBe(new X509Certificate(next.serving.certPem).fingerprint256)
    await expect(post(server.port, pki.ca.certPem, "/convert", "{}")).rejects.toThrow()
    const refused = await Effect.runPromise(Effect.result(server.setCertificate({ certPem: "garbage", keyPem: "garbage" })))
    expect(Result.isFailure(refused)).toBe(true)
    expect((await post(server.port, next.ca.certPem, "/convert", "{}")).status).toBe(400)
  })
})
