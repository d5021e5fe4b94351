// The Prometheus text exposition: what Prometheus' parser expects (HELP/TYPE lines, escaped label
// values, cumulative buckets), exact bigints, and a round trip through a small parser of the format.
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { exponentialBuckets, makeRegistry } from "../../../shell/metrics/registry.ts"

/** Parses sample lines of the text format: name, labels (unescaped) and the value as written. */
const parseSamples = (text: string) =>
  text.split("\n").filter((line) => line !== "" && !line.startsWith("#")).map((line) => {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/s.exec(line)
    if (match === null) throw new Error(`unparsable sample line: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    const body = match[3] ?? ""
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/sy
    let at = 0
    while (at < body.length) {
      labelPattern.lastIndex = at
      const label = labelPattern.exec(body)
      if (label === null) throw new Error(`unparsable labels: ${body}`)
      labels[label[1]!] = label[2]!.replace(/\\(.)/gs, (_, c: string) => (c === "n" ? "\n" : c))
      at = labelPattern.lastIndex
    }
    return { name: match[1]!, labels, value: match[4]! }
  })

describe("metrics registry", () => {
  it("prints HELP and TYPE, counters and gauges, and bigints exactly", () => {
    const registry = makeRegistry()
    const updates = registry.counter("metallb_k8s_client_updates_total", "Number of updates.")
    const addresses = registry.gauge("metallb_allocator_addresses_total", "Usable addresses.")
    updates.inc()
    updates.inc({}, 2)
    addresses.set(2n ** 64n, { pool: "v6" })
    addresses.set(256n, { pool: "v4" })
    expect(registry.render()).toBe([
      "# HELP metallb_k8s_client_updates_total Number of updates.",
      "# TYPE metallb_k8s_client_updates_total counter",
      "metallb_k8s_client_updates_total 3",
      "# HELP metallb_allocator_addresses_total Usable addresses.",
      "# TYPE metallb_allocator_addresses_total gauge",
      'metallb_allocator_addresses_total{pool="v6"} 18446744073709551616',
      'metallb_allocator_addresses_total{pool="v4"} 256',
      "",
    ].join("\n"))
  })

  it("keeps one series per label set whatever the order of the labels", () => {
    const registry = makeRegistry()
    const c = registry.counter("c_total", "c")
    c.inc({ a: "1", b: "2" })
    c.inc({ b: "2", a: "1" })
    expect(parseSamples(registry.render())).toEqual([{ name: "c_total", labels: { a: "1", b: "2" }, value: "2" }])
  })

  it("prints histograms with cumulative buckets, +Inf, sum and count", () => {
    const registry = makeRegistry()
    const h = registry.histogram("d_seconds", "d", [0.1, 1, 10])
    for (const v of [0.05, 0.5, 0.5, 5, 50]) h.observe(v)
    const samples = parseSamples(registry.render())
    expect(samples.map((s) => [s.name, s.labels["le"], s.value])).toEqual([
      ["d_seconds_bucket", "0.1", "1"],
      ["d_seconds_bucket", "1", "3"],
      ["d_seconds_bucket", "10", "4"],
      ["d_seconds_bucket", "+Inf", "5"],
      ["d_seconds_sum", undefined, "56.05"],
      ["d_seconds_count", undefined, "5"],
    ])
  })

  it("reads collectors at every scrape, and a cleared gauge loses its series", () => {
    const registry = makeRegistry()
    let pools = [{ labels: { pool: "a" }, value: 1n }]
    registry.collect("in_use", "in use", "gauge", () => pools)
    const g = registry.gauge("g", "g")
    g.set(true, { x: "1" })
    expect(parseSamples(registry.render()).map((s) => s.value)).toEqual(["1", "1"])
    pools = []
    g.clear()
    expect(parseSamples(registry.render())).toEqual([])
  })

  it("rejects bad names, reserved labels, decreasing counters and duplicate registrations", () => {
    const registry = makeRegistry()
    expect(() => registry.counter("1bad", "x")).toThrow()
    const c = registry.counter("ok_total", "x")
    expect(() => registry.counter("ok_total", "x")).toThrow()
    expect(() => c.inc({}, -1)).toThrow()
    expect(() => c.inc({ __name__: "x" })).toThrow()
    expect(() => registry.histogram("h", "h", [1, 1])).toThrow()
    expect(() => registry.histogram("h2", "h", [1]).observe(1, { le: "x" })).toThrow()
  })

  it("exponentialBuckets multiplies", () => {
    expect(exponentialBuckets(1, 2, 4)).toEqual([1, 2, 4, 8])
  })

  it("round-trips any label value and any bigint through the text format", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.bigInt({ min: 0n, max: 2n ** 128n }), (value, count) => {
        const registry = makeRegistry()
        registry.gauge("g", "help with \\ and \n newline").set(count, { pool: value })
        const text = registry.render()
        expect(text.split("\n").filter((l) => l.startsWith("# HELP"))).toEqual(["# HELP g help with \\\\ and \\n newline"])
        expect(parseSamples(text)).toEqual([{ name: "g", labels: { pool: value }, value: count.toString() }])
      }),
      { numRuns: 300 },
    )
  })
})
