// The controller loop moved to shell/controller/controller.ts (a driver of core/controller/loop.ts).
// shell/kube/speaker.ts still imports these two helpers from here until it moves to shell/speaker/;
// their home is shell/kube/api-error.ts and shell/kube/config-objects.ts.
export { apiErrorText } from "./api-error.ts"
export { configKinds } from "./config-objects.ts"
