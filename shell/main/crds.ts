// The metallb.io CustomResourceDefinitions, generated from core's Effect Schemas (core/config/kinds) so
// that the API server and metallb-ts cannot disagree about a field's type, enum, range or required-ness.
// effect derives a JSON Schema; this module makes it structural (the OpenAPI v3 subset Kubernetes
// accepts) and adds what a Schema does not say: the defaults MetalLB's CRDs set, bounds that core's
// resolve() enforces beyond the Schemas (only ever tighter than the Schema's, which is checked here),
// CEL rules mirroring core's cross-field rules (MetalLB's own CRDs carry only a few of them), printer
// columns, status subresources, and BGPPeer's two versions with /convert webhook conversion.
// `metallb-ts crds` prints them; manifests/base/crds and the Helm chart hold copies a test regenerates.
import { Console, Effect, FileSystem, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { stringify } from "yaml"
import { BFDProfileSchema } from "../../core/config/kinds/bfd-profile.ts"
import { BGPAdvertisementSchema } from "../../core/config/kinds/bgp-advertisement.ts"
import { BGPPeerSchema, BGPPeerV1beta1Schema } from "../../core/config/kinds/bgp-peer.ts"
import { metallbGroup } from "../../core/config/kinds/common.ts"
import { CommunitySchema } from "../../core/config/kinds/community.ts"
import { IPAddressPoolSchema, IPAddressPoolStatusSchema } from "../../core/config/kinds/ip-address-pool.ts"
import { L2AdvertisementSchema } from "../../core/config/kinds/l2-advertisement.ts"
import { ConfigurationStateSchema, ServiceBGPStatusSchema, ServiceL2StatusSchema } from "../../core/config/kinds/status.ts"
import { bgpSessionStateGroup, BGPSessionStateSchema } from "../../core/config/kinds/bgp-session-state.ts"

type Json = { [key: string]: unknown }

/** The controller's webhook Service (MetalLB's name): port 443 on the Service, 9443 in the pod. */
export const webhookService = { name: "metallb-webhook-service", namespace: "metallb-system", port: 443 } as const
export const conversionPath = "/convert"

export interface ValidationRule {
  readonly rule: string
  readonly message: string
  /** Where the API server reports the failure, relative to the node carrying the rule. */
  readonly fieldPath?: string
  readonly reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired"
}

/** Additions at one node, addressed as "spec.peerPort" ("[]" steps into array items). */
export interface Refinement {
  readonly path: string
  readonly default?: unknown
  readonly minimum?: number
  readonly maximum?: number
  readonly minItems?: number
  readonly mapType?: "atomic"
  readonly listMapKeys?: ReadonlyArray<string>
  readonly rules?: ReadonlyArray<ValidationRule>
}

export interface PrinterColumn {
  readonly name: string
  readonly type: "string" | "integer" | "boolean" | "date"
  readonly jsonPath: string
  readonly priority?: number
}

export interface VersionSource {
  readonly name: string
  readonly schema: Schema.Top
  /** Replaces the kind's own `status` (kindSchema leaves it open). */
  readonly status?: Schema.Top
  readonly storage: boolean
  readonly deprecationWarning?: string
  readonly refinements: ReadonlyArray<Refinement>
  readonly columns: ReadonlyArray<PrinterColumn>
}

export interface KindSource {
  /** metallb.io unless given (BGPSessionState is frr-k8s's frrk8s.metallb.io, as MetalLB users know it). */
  readonly group?: string
  readonly kind: string
  readonly plural: string
  readonly description: string
  readonly versions: ReadonlyArray<VersionSource>
}

// Go's zero value counts as unset, as core (and MetalLB) read these fields.
const given = (field: string) => `(has(self.${field}) && self.${field} != '')`
const peerAsnGiven = "(has(self.peerASN) && self.peerASN != 0)"
const wholeSeconds = "duration(self) >= duration('0s') && duration(self).getMilliseconds() % 1000 == 0"

const timerRefinements: ReadonlyArray<Refinement> = [
  {
    path: "spec.holdTime",
    rules: [
      { rule: wholeSeconds, message: "holdTime must be a whole, non-negative number of seconds, e.g. 90s" },
      { rule: "duration(self) == duration('0s') || (duration(self) >= duration('3s') && duration(self) <= duration('65535s'))", message: "holdTime must be 0 (no keepalives) or 3s..65535s (RFC 4271)" },
    ],
  },
  {
    path: "spec.keepaliveTime",
    rules: [
      { rule: wholeSeconds, message: "keepaliveTime must be a whole, non-negative number of seconds, e.g. 30s" },
      { rule: "duration(self) <= duration('65535s')", message: "keepaliveTime must be at most 65535s" },
    ],
  },
  {
    path: "spec",
    rules: [
      {
        rule: "!has(self.holdTime) || !has(self.keepaliveTime) || duration(self.keepaliveTime) <= duration(self.holdTime)",
        message: "keepaliveTime must not exceed holdTime (with holdTime 0, keepaliveTime must be 0)",
        fieldPath: ".keepaliveTime",
      },
      {
        rule: "has(self.holdTime) || !has(self.keepaliveTime) || duration(self.keepaliveTime) <= duration('21845s')",
        message: "without holdTime the hold time is 3 x keepaliveTime, which must be at most 65535s",
        fieldPath: ".keepaliveTime",
      },
    ],
  },
]

const multiHopRule = (internal: string): Refinement => ({
  path: "spec",
  rules: [{
    rule: `!(has(self.ebgpMultiHop) && self.ebgpMultiHop && (${internal}))`,
    message: "ebgpMultiHop is for eBGP sessions; this session is iBGP (peer ASN equals myASN)",
    fieldPath: ".ebgpMultiHop",
    reason: "FieldValueForbidden",
  }],
})

const peerColumns: ReadonlyArray<PrinterColumn> = [
  { name: "Address", type: "string", jsonPath: ".spec.peerAddress" },
  { name: "ASN", type: "string", jsonPath: ".spec.peerASN" },
  { name: "BFD Profile", type: "string", jsonPath: ".spec.bfdProfile" },
  { name: "Multi Hops", type: "string", jsonPath: ".spec.ebgpMultiHop" },
]

const serviceStatusRefinements: ReadonlyArray<Refinement> = ["node", "serviceName", "serviceNamespace"].map((field) => ({
  path: `status.${field}`,
  rules: [{ rule: "self == oldSelf", message: "Value is immutable" }],
}))

const serviceStatusColumns: ReadonlyArray<PrinterColumn> = [
  { name: "Allocated Node", type: "string", jsonPath: ".status.node" },
  { name: "Service Name", type: "string", jsonPath: ".status.serviceName" },
  { name: "Service Namespace", type: "string", jsonPath: ".status.serviceNamespace" },
]

const selectorColumns = (prefix: ReadonlyArray<PrinterColumn>): ReadonlyArray<PrinterColumn> => [
  { name: "IPAddressPools", type: "string", jsonPath: ".spec.ipAddressPools" },
  { name: "IPAddressPool Selectors", type: "string", jsonPath: ".spec.ipAddressPoolSelectors" },
  ...prefix,
  { name: "Node Selectors", type: "string", jsonPath: ".spec.nodeSelectors", priority: 10 },
]

export const metallbKinds: ReadonlyArray<KindSource> = [
  {
    kind: "IPAddressPool",
    plural: "ipaddresspools",
    description: "A pool of IP addresses that can be allocated to LoadBalancer services.",
    versions: [{
      name: "v1beta1",
      schema: IPAddressPoolSchema,
      status: IPAddressPoolStatusSchema,
      storage: true,
      refinements: [
        { path: "spec.addresses", minItems: 1 },
        { path: "spec.autoAssign", default: true },
        { path: "spec.avoidBuggyIPs", default: false },
      ],
      columns: [
        { name: "Auto Assign", type: "boolean", jsonPath: ".spec.autoAssign" },
        { name: "Avoid Buggy IPs", type: "boolean", jsonPath: ".spec.avoidBuggyIPs" },
        { name: "Addresses", type: "string", jsonPath: ".spec.addresses" },
        { name: "Assigned IPv4", type: "integer", jsonPath: ".status.assignedIPv4" },
        { name: "Available IPv4", type: "integer", jsonPath: ".status.availableIPv4" },
        { name: "Assigned IPv6", type: "integer", jsonPath: ".status.assignedIPv6" },
        { name: "Available IPv6", type: "integer", jsonPath: ".status.availableIPv6" },
      ],
    }],
  },
  {
    kind: "L2Advertisement",
    plural: "l2advertisements",
    description: "Announces the addresses of selected pools with ARP and NDP from selected nodes and interfaces.",
    versions: [{
      name: "v1beta1",
      schema: L2AdvertisementSchema,
      storage: true,
      refinements: [],
      columns: selectorColumns([{ name: "Interfaces", type: "string", jsonPath: ".spec.interfaces" }]),
    }],
  },
  {
    kind: "BGPAdvertisement",
    plural: "bgpadvertisements",
    description: "Announces the addresses of selected pools over BGP to selected peers, with aggregation, LOCAL_PREF and communities.",
    versions: [{
      name: "v1beta1",
      schema: BGPAdvertisementSchema,
      storage: true,
      refinements: [
        { path: "spec.aggregationLength", default: 32, minimum: 1, maximum: 32 },
        { path: "spec.aggregationLengthV6", default: 128, minimum: 1, maximum: 128 },
        {
          path: "spec",
          rules: [{
            rule: "!has(self.serviceSelectors) || size(self.serviceSelectors) == 0 || ((!has(self.aggregationLength) || self.aggregationLength == 32) && (!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))",
            message: "serviceSelectors can only be used with the default aggregation lengths (32 and 128)",
            fieldPath: ".serviceSelectors",
            reason: "FieldValueForbidden",
          }],
        },
      ],
      columns: selectorColumns([{ name: "Peers", type: "string", jsonPath: ".spec.peers" }]),
    }],
  },
  {
    kind: "BGPPeer",
    plural: "bgppeers",
    description: "A BGP session the speakers on selected nodes open to a router.",
    versions: [
      {
        name: "v1beta1",
        schema: BGPPeerV1beta1Schema,
        storage: false,
        deprecationWarning: "metallb.io/v1beta1 BGPPeer is deprecated; use metallb.io/v1beta2",
        // No ASN or address rules: a v1beta2 peer read as v1beta1 carries peerASN 0 / peerAddress "" and
        // must survive being written back.
        refinements: [...timerRefinements, multiHopRule(`${peerAsnGiven} && self.peerASN == self.myASN`)],
        columns: peerColumns,
      },
      {
        name: "v1beta2",
        schema: BGPPeerSchema,
        storage: true,
        refinements: [
          ...timerRefinements,
          multiHopRule(`(${peerAsnGiven} && self.peerASN == self.myASN) || (has(self.dynamicASN) && self.dynamicASN == 'internal')`),
          { path: "spec.myASN", minimum: 1 },
          { path: "spec.peerPort", default: 179 },
          { path: "spec.passwordSecret", mapType: "atomic" },
          {
            path: "spec.connectTime",
            rules: [
              { rule: "duration(self).getMilliseconds() % 1000 == 0", message: "connectTime must be a whole number of seconds" },
              { rule: "duration(self) >= duration('1s') && duration(self) <= duration('65535s')", message: "connectTime must be 1s..65535s" },
            ],
          },
          {
            path: "spec",
            rules: [
              { rule: `!(${peerAsnGiven} && has(self.dynamicASN))`, message: "peerASN and dynamicASN are mutually exclusive: set one", fieldPath: ".dynamicASN", reason: "FieldValueForbidden" },
              { rule: `${peerAsnGiven} || has(self.dynamicASN)`, message: "set peerASN (non-zero) or dynamicASN (internal or external)", fieldPath: ".peerASN", reason: "FieldValueRequired" },
              { rule: `!(${given("peerAddress")} && ${given("interface")})`, message: "peerAddress and interface are mutually exclusive: set one", fieldPath: ".interface", reason: "FieldValueForbidden" },
              { rule: `${given("peerAddress")} || ${given("interface")}`, message: "set peerAddress, or interface for an unnumbered session", fieldPath: ".peerAddress", reason: "FieldValueRequired" },
              {
                // Only a named Secret is read (its namespace is ignored, as MetalLB ignores it).
                rule: `!(${given("password")} && has(self.passwordSecret) && has(self.passwordSecret.name) && self.passwordSecret.name != '')`,
                message: "password and passwordSecret are mutually exclusive: set one",
                fieldPath: ".passwordSecret",
                reason: "FieldValueForbidden",
              },
              {
                // Unset and false are the same session; only a real change needs a new session.
                rule: "(has(self.enableGracefulRestart) && self.enableGracefulRestart) == (has(oldSelf.enableGracefulRestart) && oldSelf.enableGracefulRestart)",
                message: "enableGracefulRestart cannot be changed; delete and re-create the BGPPeer instead",
                fieldPath: ".enableGracefulRestart",
              },
            ],
          },
        ],
        columns: [
          ...peerColumns,
          { name: "Dynamic ASN", type: "string", jsonPath: ".spec.dynamicASN", priority: 1 },
          { name: "Interface", type: "string", jsonPath: ".spec.interface", priority: 1 },
        ],
      },
    ],
  },
  {
    kind: "BFDProfile",
    plural: "bfdprofiles",
    description: "BFD timers and modes a BGPPeer refers to by name.",
    versions: [{
      name: "v1beta1",
      schema: BFDProfileSchema,
      storage: true,
      refinements: [],
      columns: [
        { name: "Passive Mode", type: "boolean", jsonPath: ".spec.passiveMode" },
        { name: "Transmit Interval", type: "integer", jsonPath: ".spec.transmitInterval" },
        { name: "Receive Interval", type: "integer", jsonPath: ".spec.receiveInterval" },
        { name: "Multiplier", type: "integer", jsonPath: ".spec.detectMultiplier" },
      ],
    }],
  },
  {
    kind: "Community",
    plural: "communities",
    description: "Names for BGP community values, usable in BGPAdvertisements.",
    versions: [{
      name: "v1beta1",
      schema: CommunitySchema,
      storage: true,
      refinements: [{ path: "spec.communities", listMapKeys: ["name"] }],
      columns: [],
    }],
  },
  {
    kind: "ServiceL2Status",
    plural: "servicel2statuses",
    description: "Which node announces a service in layer 2 mode, and on which interfaces (written by the speaker).",
    versions: [{ name: "v1beta1", schema: ServiceL2StatusSchema, storage: true, refinements: serviceStatusRefinements, columns: serviceStatusColumns }],
  },
  {
    kind: "ServiceBGPStatus",
    plural: "servicebgpstatuses",
    description: "Which node announces a service over BGP, and to which peers (written by the speaker).",
    versions: [{ name: "v1beta1", schema: ServiceBGPStatusSchema, storage: true, refinements: serviceStatusRefinements, columns: serviceStatusColumns }],
  },
  {
    group: bgpSessionStateGroup,
    kind: "BGPSessionState",
    plural: "bgpsessionstates",
    description: "The state of one node's BGP session with one peer (written by the speaker, as frr-k8s does in MetalLB's FRR-K8s mode).",
    versions: [{
      name: "v1beta1",
      schema: BGPSessionStateSchema,
      storage: true,
      refinements: [],
      columns: [
        { name: "Node", type: "string", jsonPath: ".status.node" },
        { name: "Peer", type: "string", jsonPath: ".status.peer" },
        { name: "VRF", type: "string", jsonPath: ".status.vrf" },
        { name: "BGP", type: "string", jsonPath: ".status.bgpStatus" },
        { name: "BFD", type: "string", jsonPath: ".status.bfdStatus" },
      ],
    }],
  },
  {
    kind: "ConfigurationState",
    plural: "configurationstates",
    description: "Whether the controller or a speaker accepted the current configuration, and why not.",
    versions: [{
      name: "v1beta1",
      schema: ConfigurationStateSchema,
      storage: true,
      refinements: [
        { path: "status.conditions", listMapKeys: ["type"] },
        { path: "status.conditions[].observedGeneration", minimum: 0 },
      ],
      columns: [
        { name: "Result", type: "string", jsonPath: ".status.result" },
        { name: "ErrorSummary", type: "string", jsonPath: ".status.errorSummary" },
        { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
      ],
    }],
  },
]

const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

const fail = (path: string, message: string): never => {
  throw new Error(`CRD schema at ${path}: ${message}`)
}

const int32 = { minimum: -2147483648, maximum: 2147483647 }
const copied = new Set(["type", "enum", "minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength", "pattern", "description", "default", "format"])
// Stable, readable key order for the generated YAML.
const keyOrder = [
  "description", "type", "format", "enum", "default", "minimum", "maximum", "minLength", "maxLength", "pattern", "minItems",
  "maxItems", "properties", "required", "items", "additionalProperties", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type", "x-kubernetes-validations",
]
const ordered = (node: Json): Json =>
  Object.fromEntries(Object.entries(node).sort(([a], [b]) => keyOrder.indexOf(a) - keyOrder.indexOf(b)))

const isLabelSelector = (node: Json): boolean =>
  isObject(node["properties"]) && Object.keys(node["properties"]).sort().join(",") === "matchExpressions,matchLabels"

/** effect's draft 2020-12 output -> a structural schema; anything without a structural form is an error. */
const structural = (node: unknown, path: string, definitions: Json): Json => {
  if (!isObject(node)) return fail(path, "not a schema")
  const ref = node["$ref"]
  if (typeof ref === "string") return structural(definitions[ref.replace(/^#\/(\$defs|definitions)\//, "")], path, definitions)
  // An empty Struct decodes any non-null value; as a Kubernetes field it is an object with no fields.
  if (Object.keys(node).length === 1 && isObject(node["not"]) && node["not"]["type"] === "null") return { type: "object" }
  const out: Json = {}
  for (const [key, value] of Object.entries(node)) {
    if (copied.has(key)) out[key] = value
    else if (key === "properties" && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, child]) => [name, structural(child, `${path}.${name}`, definitions)]))
    } else if (key === "required" && Array.isArray(value)) {
      if (value.length > 0) out[key] = value
    } else if (key === "items") out[key] = structural(value, `${path}[]`, definitions)
    else if (key === "additionalProperties") {
      // `true` is effect's "excess keys are not checked"; the API server prunes them instead.
      if (value !== true) out[key] = structural(value, `${path}{}`, definitions)
    } else if (key !== "title") fail(path, `JSON Schema keyword ${JSON.stringify(key)} has no structural form`)
  }
  if (typeof out["type"] !== "string") fail(path, "no type")
  if (out["properties"] !== undefined && out["additionalProperties"] !== undefined) fail(path, "both properties and additionalProperties")
  if (out["type"] === "integer") {
    const unbounded = out["minimum"] === -Number.MAX_SAFE_INTEGER && out["maximum"] === Number.MAX_SAFE_INTEGER
    // Schema.Int's safe-integer range is a property of JavaScript numbers, not of the field: the API
    // stores int64 (MetalLB's saturated counters are 2^63-1).
    if (unbounded) {
      delete out["minimum"]
      delete out["maximum"]
    }
    const fitsInt32 = !unbounded && (out["minimum"] as number) >= int32.minimum && (out["maximum"] as number) <= int32.maximum
    out["format"] = fitsInt32 ? "int32" : "int64"
  }
  if (isLabelSelector(out)) {
    out["x-kubernetes-map-type"] = "atomic"
    const expressions = (out["properties"] as Json)["matchExpressions"]
    if (isObject(expressions)) expressions["x-kubernetes-list-type"] = "atomic"
  }
  return ordered(out)
}

const nodeAt = (root: Json, path: string): Json => {
  let at: Json = root
  for (const step of path.split(".")) {
    const name = step.replace(/\[\]$/, "")
    const child = isObject(at["properties"]) ? at["properties"][name] : undefined
    if (!isObject(child)) return fail(path, `no field ${JSON.stringify(name)} in core's Schema`)
    at = child
    if (step.endsWith("[]")) {
      if (!isObject(at["items"])) return fail(path, `${name} is not an array`)
      at = at["items"]
    }
  }
  return at
}

const checkDefault = (node: Json, path: string, value: unknown): void => {
  const type = node["type"]
  const ok = type === "boolean" ? typeof value === "boolean" : type === "integer" ? Number.isInteger(value) : type === "string" ? typeof value === "string" : false
  if (!ok) fail(path, `default ${JSON.stringify(value)} is not of type ${String(type)}`)
  if (typeof value === "number") {
    if (typeof node["minimum"] === "number" && value < node["minimum"]) fail(path, `default ${value} is below the minimum`)
    if (typeof node["maximum"] === "number" && value > node["maximum"]) fail(path, `default ${value} is above the maximum`)
  }
}

/** Applies a refinement, refusing any that would make the CRD accept a value core's Schema refuses. */
const refine = (root: Json, r: Refinement): void => {
  const node = nodeAt(root, r.path)
  if (r.minimum !== undefined) {
    if (typeof node["minimum"] === "number" && r.minimum < node["minimum"]) fail(r.path, `minimum ${r.minimum} is looser than core's ${node["minimum"]}`)
    node["minimum"] = r.minimum
  }
  if (r.maximum !== undefined) {
    if (typeof node["maximum"] === "number" && r.maximum > node["maximum"]) fail(r.path, `maximum ${r.maximum} is looser than core's ${node["maximum"]}`)
    node["maximum"] = r.maximum
  }
  if (r.minItems !== undefined) {
    if (node["type"] !== "array") fail(r.path, "minItems on a non-array")
    node["minItems"] = r.minItems
  }
  if (r.default !== undefined) {
    checkDefault(node, r.path, r.default)
    node["default"] = r.default
  }
  if (r.mapType !== undefined) node["x-kubernetes-map-type"] = r.mapType
  if (r.listMapKeys !== undefined) {
    const items = node["items"]
    const required = isObject(items) && Array.isArray(items["required"]) ? items["required"] : []
    for (const key of r.listMapKeys) if (!required.includes(key)) fail(r.path, `list map key ${key} is not a required field of the items`)
    node["x-kubernetes-list-type"] = "map"
    node["x-kubernetes-list-map-keys"] = r.listMapKeys
  }
  if (r.rules !== undefined) node["x-kubernetes-validations"] = [...((node["x-kubernetes-validations"] as Array<unknown> | undefined) ?? []), ...r.rules]
  const sorted = ordered(node)
  for (const key of Object.keys(node)) delete node[key]
  Object.assign(node, sorted)
}

const jsonSchemaOf = (schema: Schema.Top): { readonly root: Json; readonly definitions: Json } => {
  const document = Schema.toJsonSchemaDocument(schema)
  return { root: document.schema as Json, definitions: (document.definitions ?? {}) as Json }
}

const versionSchema = (kind: KindSource, version: VersionSource): Json => {
  const { root, definitions } = jsonSchemaOf(version.schema)
  const properties = isObject(root["properties"]) ? root["properties"] : fail(kind.kind, "the kind's Schema is not a Struct")
  const spec = structural(properties["spec"], "spec", definitions)
  const statusSource = version.status === undefined ? { root: properties["status"], definitions } : jsonSchemaOf(version.status)
  // kindSchema leaves `status` as Unknown (`{}`): those kinds have no status fields yet.
  const status = isObject(statusSource.root) && Object.keys(statusSource.root).length === 0
    ? { type: "object" }
    : structural(statusSource.root, "status", statusSource.definitions)
  // A spec with nothing required may be omitted, as MetalLB's examples do (core's decoder fills in {}).
  const specRequired = Array.isArray(spec["required"]) && spec["required"].length > 0
  const openAPIV3Schema: Json = {
    description: kind.description,
    type: "object",
    properties: { apiVersion: { type: "string" }, kind: { type: "string" }, metadata: { type: "object" }, spec, status },
    ...(specRequired ? { required: ["spec"] } : {}),
  }
  for (const refinement of version.refinements) refine(openAPIV3Schema, refinement)
  for (const column of version.columns) {
    if (!column.jsonPath.startsWith(".metadata.")) nodeAt(openAPIV3Schema, column.jsonPath.slice(1))
  }
  return openAPIV3Schema
}

export type Crd = Json

export const crdFor = (kind: KindSource): Crd => {
  const multiVersion = kind.versions.length > 1
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${kind.plural}.${kind.group ?? metallbGroup}` },
    spec: {
      group: kind.group ?? metallbGroup,
      names: { kind: kind.kind, listKind: `${kind.kind}List`, plural: kind.plural, singular: kind.kind.toLowerCase(), categories: ["metallb"] },
      scope: "Namespaced",
      ...(multiVersion
        ? {
          conversion: {
            strategy: "Webhook",
            webhook: {
              conversionReviewVersions: ["v1"],
              clientConfig: { service: { ...webhookService, path: conversionPath } },
            },
          },
        }
        : {}),
      versions: kind.versions.map((version) => ({
        name: version.name,
        served: true,
        storage: version.storage,
        ...(version.deprecationWarning === undefined ? {} : { deprecated: true, deprecationWarning: version.deprecationWarning }),
        ...(version.columns.length === 0 ? {} : { additionalPrinterColumns: version.columns }),
        schema: { openAPIV3Schema: versionSchema(kind, version) },
        subresources: { status: {} },
      })),
    },
  }
}

export const crds = (): ReadonlyArray<{ readonly fileName: string; readonly crd: Crd }> =>
  metallbKinds.map((kind) => ({ fileName: `${kind.group ?? metallbGroup}_${kind.plural}.yaml`, crd: crdFor(kind) }))

const header = "# Generated from core/config/kinds by `metallb-ts crds`: do not edit; regenerate with\n" +
  "# `npm run metallb-ts -- crds --output-dir manifests/base/crds` (and manifests/charts/metallb-ts/files/crds).\n"

export const renderCrd = (crd: Crd): string => header + stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false })

export const crdsCommand = Command.make(
  "crds",
  {
    outputDir: Flag.String("output-dir").pipe(Flag.optional, Flag.withDescription("write one file per CRD into this directory instead of printing them")),
  },
  ({ outputDir }) =>
    Effect.gen(function* () {
      const all = crds()
      if (Option.isNone(outputDir)) {
        yield* Console.log(all.map(({ crd }) => renderCrd(crd)).join("---\n").trimEnd())
        return
      }
      const fs = yield* FileSystem.FileSystem
      yield* fs.makeDirectory(outputDir.value, { recursive: true })
      for (const { fileName, crd } of all) {
        const path = `${outputDir.value}/${fileName}`
        yield* fs.writeFileString(path, renderCrd(crd))
        yield* Console.log(path)
      }
    }),
).pipe(Command.withDescription("Print the metallb.io CustomResourceDefinitions, generated from the configuration Schemas."))
