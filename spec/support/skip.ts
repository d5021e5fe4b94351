// Decides whether an integration suite may skip. Locally a missing prerequisite (root, a cached binary)
// skips with its reason; under CI (CI=true) nothing may skip: the suite runs and fails with the real error.
export const skipUnlessCi = (reason: string | undefined): boolean => {
  if (reason === undefined) return false
  if (process.env["CI"] === "true") return false
  console.warn(`skipping: ${reason}`)
  return true
}
