// Which command a command line runs, found before any module is loaded: the first argument naming one,
// after global flags and their values; none for help, version, an unknown command or operands after `--`.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { commandNames, commandToRun } from "../../../shell/main/command-names.ts"

describe("commandToRun", () => {
  it("finds the command after global flags, and none where the line names none", () => {
    expect(commandToRun(["controller", "--kubeconfig", "k"])).toBe("controller")
    expect(commandToRun(["--log-format", "json", "--log-level", "debug", "speaker", "--node-name", "n1"])).toBe("speaker")
    // the command's own operands may be named like another command (a file called "speaker")
    expect(commandToRun(["validate", "speaker", "controller"])).toBe("validate")
    expect(commandToRun(["--help"])).toBeUndefined()
    expect(commandToRun(["--version"])).toBeUndefined()
    expect(commandToRun([])).toBeUndefined()
    expect(commandToRun(["contoller"])).toBeUndefined()
    expect(commandToRun(["--", "controller"])).toBeUndefined()
  })

  it("is the first argument that names a command, whatever other arguments surround it (property)", () => {
    const notACommand = fc.string({ maxLength: 12 }).filter((s) => !(commandNames as ReadonlyArray<string>).includes(s) && s !== "--")
    fc.assert(fc.property(fc.array(notACommand, { maxLength: 6 }), fc.constantFrom(...commandNames), fc.array(fc.oneof(notACommand, fc.constantFrom(...commandNames)), { maxLength: 6 }), (before, command, after) => {
      expect(commandToRun([...before, command, ...after])).toBe(command)
      expect(commandToRun(before)).toBeUndefined()
    }))
  })
})
