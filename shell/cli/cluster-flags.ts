// The flags that say where the operator tools read the cluster from (`explain`; `plan` has the same
// ones): a kubeconfig, or a dump file, and the --lb-class metallb-ts runs with.
import { Option } from "effect"
import { Flag } from "effect/cli"

export const clusterSourceFlags = {
  kubeconfig: Flag.String("kubeconfig").pipe(Flag.optional, Flag.withDescription("kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster); list calls only")),
  clusterState: Flag.String("cluster-state").pipe(
    Flag.optional,
    Flag.withDescription(
      "read the cluster from this dump instead of the API (kubectl get services,endpointslices,nodes,namespaces,pods,ipaddresspools,l2advertisements," +
        "bgpadvertisements,bgppeers,bfdprofiles,communities,servicel2statuses,servicebgpstatuses,configurationstates,bgpsessionstates -A -o yaml)",
    ),
  ),
  lbClass: Flag.String("lb-class").pipe(Flag.optional, Flag.withDescription("the --lb-class metallb-ts runs with (default: Services without a class)")),
}

/** The parsed flags as optional fields (absent when not given). */
export const clusterSourceArgs = (input: {
  readonly kubeconfig: Option.Option<string>
  readonly clusterState: Option.Option<string>
  readonly lbClass: Option.Option<string>
}): { readonly kubeconfig?: string; readonly clusterState?: string; readonly lbClass?: string } => ({
  ...Option.match(input.kubeconfig, { onNone: () => ({}), onSome: (kubeconfig) => ({ kubeconfig }) }),
  ...Option.match(input.clusterState, { onNone: () => ({}), onSome: (clusterState) => ({ clusterState }) }),
  ...Option.match(input.lbClass, { onNone: () => ({}), onSome: (lbClass) => ({ lbClass }) }),
})
