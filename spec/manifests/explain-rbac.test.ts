// The read-only role for `explain` (manifests/base/explain-rbac.yaml, the chart's explain-rbac.yaml and the
// example bindings in overlays/explain): only get and list, never Secrets, every kind the cluster-state
// reader lists; the overlay binds both roles to the same subjects; the chart binds explain.subjects and
// renders no binding without them.
import { describe, expect, it } from "vitest"
import { configKinds, statusKinds } from "../../shell/kube/config-objects.ts"
import { speakerPodSelector } from "../../shell/cli/cluster-state.ts"
import { bgpSessionStates } from "../../shell/kube/session-states.ts"
import { kubeVersion } from "../support/apiserver.ts"
import { find, helmTemplate, type K8sObject, readYaml, toolsSkipReason } from "./support.ts"
import { skipUnlessCi } from "../support/skip.ts"

type Rule = { apiGroups: Array<string>; resources: Array<string>; verbs: Array<string> }

const base = readYaml("manifests/base/explain-rbac.yaml")
const rules = (o: K8sObject) => o["rules"] as Array<Rule>
const granted = (objects: ReadonlyArray<K8sObject>) =>
  objects.flatMap((o) => rules(o).flatMap((r) => r.resources.map((res) => `${r.apiGroups[0] === "" ? "" : `${r.apiGroups[0]}/`}${res}`))).sort()

describe("explain RBAC", () => {
  it("grants get and list only, no Secrets, on exactly what the reader lists", () => {
    const role = find(base, "ClusterRole", "metallb-system:explain")
    const pods = find(base, "Role", "explain")
    expect(pods.metadata.namespace).toBe("metallb-system")
    for (const r of [...rules(role), ...rules(pods)]) expect(r.verbs).toEqual(["get", "list"])
    const expected = [
      "services", "nodes", "namespaces", "discovery.k8s.io/endpointslices", "pods",
      ...[...configKinds, ...Object.values(statusKinds)].map((k) => `metallb.io/${k.plural}`),
      `${bgpSessionStates.group}/${bgpSessionStates.plural}`,
    ].sort()
    expect(granted([role, pods])).toEqual(expected)
    expect(granted([role, pods]).some((r) => r.endsWith("secrets"))).toBe(false)
    expect(speakerPodSelector).toBe("app=metallb,component=speaker")
  })

  it("the example overlay binds the ClusterRole and the Role to the same subjects", () => {
    const bindings = readYaml("manifests/overlays/explain/bindings.yaml")
    expect(bindings.map((b) => [b.kind, (b["roleRef"] as { name: string }).name])).toEqual([["ClusterRoleBinding", "metallb-system:explain"], ["RoleBinding", "explain"]])
    expect(bindings[0]?.["subjects"]).toEqual(bindings[1]?.["subjects"])
    expect(bindings[1]?.metadata.namespace).toBe("metallb-system")
  })
})

describe.skipIf(skipUnlessCi(toolsSkipReason()))("explain RBAC in the Helm chart", () => {
  const template = (...values: Array<string>) => helmTemplate(["--namespace", "lb", "--kube-version", kubeVersion(), ...values.flatMap((v) => ["--set", v])])

  it("renders the roles in the release namespace, and bindings only for explain.subjects", () => {
    const plain = template()
    expect(rules(find(plain, "ClusterRole", "lb:explain"))).toEqual(rules(find(base, "ClusterRole", "metallb-system:explain")))
    expect(find(plain, "Role", "explain").metadata.namespace).toBe("lb")
    expect(plain.filter((o) => o.kind.endsWith("Binding") && o.metadata.name.includes("explain"))).toEqual([])
    const bound = template("explain.subjects[0].kind=Group", "explain.subjects[0].name=ops", "explain.subjects[0].apiGroup=rbac.authorization.k8s.io")
    const subjects = [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "ops" }]
    expect(find(bound, "ClusterRoleBinding", "lb:explain")["subjects"]).toEqual(subjects)
    expect(find(bound, "RoleBinding", "explain")).toMatchObject({ metadata: { namespace: "lb" }, roleRef: { kind: "Role", name: "explain" }, subjects })
    expect(template("rbac.create=false").some((o) => o.metadata.name.includes("explain"))).toBe(false)
  })
})
