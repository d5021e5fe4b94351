// Prints one closing line, "vitest: N passed, N failed, N skipped", that CI reads whatever the runner.
// Also lists skipped tests with their reasons, so a skip in CI is never silent.
import type { Reporter, TestModule } from "vitest/node"

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0
    let failed = 0
    let skipped = 0
    const skips: Array<string> = []
    for (const module of testModules) {
      if (module.state() === "failed" && [...module.children.allTests()].length === 0) failed += 1
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === "passed") passed += 1
        else if (state === "failed") failed += 1
        else {
          skipped += 1
          skips.push(`${module.moduleId.replace(`${process.cwd()}/`, "")} > ${test.fullName}`)
        }
      }
    }
    if (skips.length > 0) console.log(`skipped:\n  ${skips.join("\n  ")}`)
    console.log(`vitest: ${passed} passed, ${failed} failed, ${skipped} skipped`)
  }
}
