// The image's entry point, bundled (issue 17): esbuild bundles shell/main/cli.ts with every package it
// imports, tree-shaken, whitespace and syntax minified (names kept, so stack traces stay readable), into
// the directory build/metallb-ts/. A process then starts without type-stripping and linking ~600 modules:
// measured with `--help` on this machine, 233 MiB RSS and 2.4 s CPU from the .ts, 113 MiB and 0.55 s from
// one bundled file. The bundle is split: cli.ts imports each command's module only when that command runs,
// and each such module is a chunk of its own with the code only it uses (chunk-<hash>.mjs, as are the
// chunks of code several commands share); so `controller` loads neither the speaker's drivers nor the
// simulator nor the operator tools (`controller --help`: 87 MiB and 0.50 s CPU instead of 113 MiB and
// 0.62 s). The sources stay the truth: tests and `npm run metallb-ts` run the .ts; the image runs this.
//
// `npm run bundle [-- --out DIR]`; shell/image/image.ts builds it for the image.
import { existsSync, renameSync, rmSync } from "node:fs"
import { basename, dirname, join, relative } from "node:path"
import { parseArgs } from "node:util"
import { build, type Plugin } from "esbuild"

/** Where the bundle goes, relative to the repository root (and to /app in the image): every file of it. */
export const bundleDir = "build/metallb-ts"
/** The file a process runs (`node build/metallb-ts/metallb-ts.mjs controller ...`). */
export const bundleFile = `${bundleDir}/metallb-ts.mjs`
export const bundleEntry = "shell/main/cli.ts"

export interface BuiltBundle {
  /** The directory written. */
  readonly path: string
  /** Bytes of every output file. */
  readonly bytes: number
  /** Output files (entry, one per command module, shared chunks), relative to the directory, sorted. */
  readonly files: ReadonlyArray<string>
  /** For each command module (its source, relative to the repository), the bundle's files it loads: its own and the chunks it imports, transitively, with the entry's. */
  readonly loads: Readonly<Record<string, ReadonlyArray<string>>>
  /** Input files (ours and the packages') that went into it. */
  readonly inputs: number
  readonly elapsedMs: number
}

/**
 * A module of ours that finds files next to itself (shell/native/addon.ts: build/Release/packet.node)
 * keeps finding them: its `import.meta.url` becomes its source file's URL, computed from the bundle's
 * own URL as if it sat at bundleFile, so the bundle works wherever the tree is, once it is placed there
 * (and its bytes do not depend on where it was written). Every file of the bundle sits in bundleDir,
 * so whichever chunk the module lands in, the relative URL holds.
 */
const sourceLocations = (repoRoot: string): Plugin => ({
  name: "metallb-ts-source-locations",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (relative(repoRoot, args.path).startsWith("..") || args.path.includes("/node_modules/")) return undefined
      const { readFile } = await import("node:fs/promises")
      const text = await readFile(args.path, "utf8")
      if (!text.includes("import.meta.")) return { contents: text, loader: "ts" }
      const url = `new URL(${JSON.stringify(relative(join(repoRoot, dirname(bundleFile)), args.path))}, import.meta.url)`
      const contents = text
        .replaceAll("import.meta.url", `${url}.href`)
        .replaceAll("import.meta.dirname", `__metallbTsDirname(${url})`)
        .replaceAll("import.meta.filename", `__metallbTsFilename(${url})`)
      return { contents, loader: "ts" }
    })
  },
})

// The bundle is an ES module: packages written as CommonJS still call require() for Node's built-ins, and
// the rewritten import.meta.dirname/filename above need their helpers.
const banner = [
  `import { createRequire as __metallbTsCreateRequire } from "node:module";`,
  `import { fileURLToPath as __metallbTsFileUrlToPath } from "node:url";`,
  `import { dirname as __metallbTsPathDirname } from "node:path";`,
  `const require = __metallbTsCreateRequire(import.meta.url);`,
  `const __metallbTsFilename = (url) => __metallbTsFileUrlToPath(url);`,
  `const __metallbTsDirname = (url) => __metallbTsPathDirname(__metallbTsFileUrlToPath(url));`,
].join("\n")

/** esbuild's run of the bundle into `outdir`, with its metafile. */
const built = (outdir: string, repoRoot: string) =>
  build({
    absWorkingDir: repoRoot,
    entryPoints: { [basename(bundleFile, ".mjs")]: join(repoRoot, bundleEntry) },
    outdir,
    // Each dynamically imported command module, and code shared by several, is a chunk named by its
    // content's hash: the same sources make the same names.
    splitting: true,
    entryNames: "[name]",
    chunkNames: "chunk-[hash]",
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    treeShaking: true,
    // Module paths in the output stay relative to repoRoot even where node_modules is a link (a copy of
    // the tree in the image test): the same sources make the same bytes.
    preserveSymlinks: true,
    minifyWhitespace: true,
    minifySyntax: true,
    // Names stay: stack traces and logged class names read as in the sources, and the RSS is lower
    // than with mangled names (113 vs 120 MiB measured).
    minifyIdentifiers: false,
    legalComments: "none",
    banner: { js: banner },
    plugins: [sourceLocations(repoRoot)],
    metafile: true,
    logLevel: "silent",
  })

export const buildBundle = async (options: { readonly repoRoot: string; readonly out?: string }): Promise<BuiltBundle> => {
  const started = performance.now()
  // Elsewhere than bundleDir only to be moved there (the image's scratch directory).
  const out = options.out ?? join(options.repoRoot, bundleDir)
  // Written beside `out`, then swapped in whole: a previous build's chunks (other hashes) do not stay
  // beside this one's, and a process started meanwhile (benches and tests share the tree) finds the old
  // bundle or the new one, never a half-written or missing one; one already running keeps what it loaded.
  const staging = `${out}.${process.pid}.new`
  rmSync(staging, { recursive: true, force: true })
  const result = await built(staging, options.repoRoot).catch((error: unknown) => {
    rmSync(staging, { recursive: true, force: true })
    throw error
  })
  if (result.errors.length > 0) {
    rmSync(staging, { recursive: true, force: true })
    throw new Error(`bundle: ${result.errors.map((e) => e.text).join("; ")}`)
  }
  const previous = `${out}.${process.pid}.old`
  rmSync(previous, { recursive: true, force: true })
  if (existsSync(out)) renameSync(out, previous)
  renameSync(staging, out)
  rmSync(previous, { recursive: true, force: true })
  const outputs = result.metafile.outputs
  const name = (outputPath: string) => relative(staging, join(options.repoRoot, outputPath))
  const byName = new Map(Object.entries(outputs).map(([path, output]) => [name(path), output]))
  const files = [...byName.keys()].sort()
  // What loading a file brings in: the file and, transitively, its static imports (never its dynamic ones).
  const closure = (file: string, seen: Set<string> = new Set()): Set<string> => {
    if (seen.has(file)) return seen
    seen.add(file)
    for (const imported of byName.get(file)?.imports ?? []) {
      if (imported.kind === "import-statement" && !imported.external) closure(name(imported.path), seen)
    }
    return seen
  }
  const entry = basename(bundleFile)
  const atStart = closure(entry)
  const loads: Record<string, ReadonlyArray<string>> = {}
  for (const [file, output] of byName) {
    if (file === entry || output.entryPoint === undefined) continue
    loads[output.entryPoint] = [...closure(file, new Set(atStart))].sort()
  }
  return {
    path: out,
    bytes: Object.values(outputs).reduce((sum, output) => sum + output.bytes, 0),
    files,
    loads,
    inputs: Object.keys(result.metafile.inputs).length,
    elapsedMs: performance.now() - started,
  }
}

if (import.meta.main) {
  try {
    const { values } = parseArgs({ options: { out: { type: "string" } }, strict: true })
    const repoRoot = join(import.meta.dirname, "..", "..")
    const built = await buildBundle({ repoRoot, ...(values.out === undefined ? {} : { out: values.out }) })
    console.log(`bundle: ${built.path}, ${built.files.length} files, ${(built.bytes / 1024 / 1024).toFixed(1)} MiB from ${built.inputs} files in ${(built.elapsedMs / 1000).toFixed(1)} s`)
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    process.exit(1)
  }
}
