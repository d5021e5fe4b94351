// A service's address families come from its ClusterIPs (MetalLB ipfamily.ForService): one ClusterIP
// means that family, two of different families mean dual-stack. RequireDualStack without a ClusterIP
// of each family is refused; PreferDualStack falls back to the primary family when no pool can give
// both. Requested addresses (loadBalancerIPs) must be of the service's families.
import { Result } from "effect"
import type { Address, Family } from "../net/address.ts"
import { allocate, allocateFromPool, assign, type Allocator, type Outcome } from "./allocator.ts"
import { FamilyMismatch, type IpamError, NotEnoughClusterIPs } from "./errors.ts"
import type { Port, ServiceRef, SharingKeys } from "./service.ts"

export type IpFamilyPolicy = "SingleStack" | "PreferDualStack" | "RequireDualStack"

export const familiesOf = (clusterIPs: ReadonlyArray<Address>, policy: IpFamilyPolicy): Result.Result<ReadonlyArray<Family>, IpamError> => {
  const families = [...new Set(clusterIPs.map((a) => a.family))]
  if (families.length === 0) return Result.fail(new FamilyMismatch({ reason: "the service has no ClusterIPs" }))
  if (clusterIPs.length > 2 || families.length !== clusterIPs.length) {
    return Result.fail(new FamilyMismatch({ reason: "ClusterIPs must be one address, or one of each family" }))
  }
  if (policy === "RequireDualStack" && families.length < 2) {
    return Result.fail(new NotEnoughClusterIPs({ policy, count: clusterIPs.length }))
  }
  return Result.succeed(families)
}

export interface ServiceRequest extends SharingKeys {
  readonly service: ServiceRef
  readonly clusterIPs: ReadonlyArray<Address>
  readonly ipFamilyPolicy: IpFamilyPolicy
  readonly ports: ReadonlyArray<Port>
  /** Requested addresses (spec.loadBalancerIP or the loadBalancerIPs annotation). */
  readonly requested?: ReadonlyArray<Address>
  /** The address-pool annotation. */
  readonly pool?: string
}

/** Requested addresses first, then the named pool, then every candidate pool (MetalLB's controller order). */
export const allocateForService = (allocator: Allocator, request: ServiceRequest): Outcome => {
  const families = familiesOf(request.clusterIPs, request.ipFamilyPolicy)
  if (Result.isFailure(families)) return Result.fail(families.failure)
  if (request.requested !== undefined && request.requested.length > 0) {
    return assign(allocator, { ...request, addresses: request.requested, families: families.success })
  }
  const attempt = (wanted: ReadonlyArray<Family>) => {
    const allocateRequest = { ...request, families: wanted }
    return request.pool === undefined ? allocate(allocator, allocateRequest) : allocateFromPool(allocator, request.pool, allocateRequest)
  }
  const both = attempt(families.success)
  const primary = families.success[0]
  if (Result.isSuccess(both) || request.ipFamilyPolicy !== "PreferDualStack" || families.success.length < 2 || primary === undefined) return both
  const single = attempt([primary])
  return Result.isSuccess(single) ? single : both
}
