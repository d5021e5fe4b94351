// A small Prometheus registry and its text exposition (format 0.0.4): counters, gauges, histograms and
// collectors read at scrape time. Values may be bigints and are printed exactly: a /64 pool holds
// 18446744073709551616 addresses, which a float64 sample cannot carry but the text format can (MetalLB
// caps it at MaxInt64 instead). Written by hand rather than on prom-client to keep bigints exact and
// to add no dependency; the process owns one registry and the metrics server renders it per scrape.

export type Labels = Readonly<Record<string, string>>
export type SampleValue = number | bigint
export type MetricType = "counter" | "gauge" | "histogram"

export interface Sample {
  readonly labels: Labels
  readonly value: SampleValue
}

export interface Counter {
  readonly inc: (labels?: Labels, by?: number) => void
}

export interface Gauge {
  readonly set: (value: SampleValue | boolean, labels?: Labels) => void
  /** Forgets every labelled series (a deleted pool must disappear from the exposition). */
  readonly clear: () => void
}

export interface Histogram {
  readonly observe: (value: number, labels?: Labels) => void
}

export interface Registry {
  readonly counter: (name: string, help: string) => Counter
  readonly gauge: (name: string, help: string) => Gauge
  /** `bucketBounds`: upper bounds, ascending; +Inf is implicit. */
  readonly histogram: (name: string, help: string, bucketBounds: ReadonlyArray<number>) => Histogram
  /** A family whose samples are computed at every scrape. */
  readonly collect: (name: string, help: string, type: Exclude<MetricType, "histogram">, samples: () => ReadonlyArray<Sample>) => void
  readonly render: () => string
}

/** Exponential bucket bounds: start, start*factor, ... (count of them). */
export const exponentialBuckets = (start: number, factor: number, count: number): ReadonlyArray<number> =>
  Array.from({ length: count }, (_, i) => start * factor ** i)

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/

const escapeHelp = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const escapeLabelValue = (text: string) => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')

export const formatValue = (value: SampleValue): string => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Number.POSITIVE_INFINITY) return "+Inf"
  if (value === Number.NEGATIVE_INFINITY) return "-Inf"
  return String(value)
}

const formatLabels = (labels: Labels): string => {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  if (entries.length === 0) return ""
  return `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`
}

/** One series key per label set, independent of the order the labels were given in. */
const seriesKey = (labels: Labels) => formatLabels(labels)

const checkLabels = (name: string, labels: Labels) => {
  for (const key of Object.keys(labels)) {
    if (!labelName.test(key) || key.startsWith("__")) throw new Error(`metric ${name}: invalid label name ${JSON.stringify(key)}`)
  }
}

interface Family {
  readonly name: string
  readonly help: string
  readonly type: MetricType
  readonly lines: () => ReadonlyArray<string>
}

const sampleLine = (name: string, labels: Labels, value: SampleValue) => `${name}${formatLabels(labels)} ${formatValue(value)}`

export const makeRegistry = (): Registry => {
  const families = new Map<string, Family>()
  const register = (family: Family) => {
    if (!metricName.test(family.name)) throw new Error(`invalid metric name ${JSON.stringify(family.name)}`)
    if (families.has(family.name)) throw new Error(`metric ${family.name} registered twice`)
    families.set(family.name, family)
  }

  const counter = (name: string, help: string): Counter => {
    const series = new Map<string, { labels: Labels; value: number }>()
    register({ name, help, type: "counter", lines: () => [...series.values()].map((s) => sampleLine(name, s.labels, s.value)) })
    return {
      inc: (labels = {}, by = 1) => {
        if (!(by >= 0)) throw new Error(`counter ${name} cannot decrease (by ${by})`)
        checkLabels(name, labels)
        const key = seriesKey(labels)
        const current = series.get(key)
        series.set(key, { labels, value: (current?.value ?? 0) + by })
      },
    }
  }

  const gauge = (name: string, help: string): Gauge => {
    const series = new Map<string, { labels: Labels; value: SampleValue }>()
    register({ name, help, type: "gauge", lines: () => [...series.values()].map((s) => sampleLine(name, s.labels, s.value)) })
    return {
      set: (value, labels = {}) => {
        checkLabels(name, labels)
        series.set(seriesKey(labels), { labels, value: typeof value === "boolean" ? (value ? 1 : 0) : value })
      },
      clear: () => series.clear(),
    }
  }

  const histogram = (name: string, help: string, bucketBounds: ReadonlyArray<number>): Histogram => {
    const bounds = [...bucketBounds]
    if (bounds.some((b, i) => i > 0 && b <= (bounds[i - 1] ?? 0))) throw new Error(`histogram ${name}: bucket bounds must ascend`)
    const series = new Map<string, { labels: Labels; counts: Array<number>; sum: number; count: number }>()
    register({
      name,
      help,
      type: "histogram",
      lines: () =>
        [...series.values()].flatMap((s) => {
          let cumulative = 0
          const buckets = bounds.map((bound, i) => {
            cumulative += s.counts[i] ?? 0
            return sampleLine(`${name}_bucket`, { ...s.labels, le: formatValue(bound) }, cumulative)
          })
          return [
            ...buckets,
            sampleLine(`${name}_bucket`, { ...s.labels, le: "+Inf" }, s.count),
            sampleLine(`${name}_sum`, s.labels, s.sum),
            sampleLine(`${name}_count`, s.labels, s.count),
          ]
        }),
    })
    return {
      observe: (value, labels = {}) => {
        checkLabels(name, labels)
        if ("le" in labels) throw new Error(`histogram ${name}: "le" is reserved`)
        const key = seriesKey(labels)
        const s = series.get(key) ?? { labels, counts: bounds.map(() => 0), sum: 0, count: 0 }
        const index = bounds.findIndex((b) => value <= b)
        if (index >= 0) s.counts[index] = (s.counts[index] ?? 0) + 1
        s.sum += value
        s.count += 1
        series.set(key, s)
      },
    }
  }

  const collect = (name: string, help: string, type: Exclude<MetricType, "histogram">, samples: () => ReadonlyArray<Sample>) =>
    register({
      name,
      help,
      type,
      lines: () =>
        samples().map((s) => {
          checkLabels(name, s.labels)
          return sampleLine(name, s.labels, s.value)
        }),
    })

  const render = () =>
    [...families.values()]
      .map((f) => [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...f.lines()].join("\n"))
      .join("\n") + "\n"

  return { counter, gauge, histogram, collect, render }
}
