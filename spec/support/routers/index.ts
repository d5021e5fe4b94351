// Real BGP routers for integration tests: BIRD 2, FRR and GoBGP started in a lab host's namespace
// from one common router description, read back as plain data (neighbor states, learned routes,
// BFD sessions). See router.ts for the shared shapes and the wait helpers.
export * from "./router.ts"
export * from "./bird.ts"
export * from "./frr.ts"
export * from "./gobgp.ts"
