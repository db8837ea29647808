/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for
 * tests. The parsers on npm skip lines they do not understand; this one
 * throws on anything the format does not allow: a bad name, label, escape or
 * value, a sample outside its family's declared type, a family split in two,
 * a repeated series, or a histogram whose buckets do not add up.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Family {
  readonly name: string
  type: MetricType
  help: string | undefined
  readonly samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

/** Values are read as Prometheus reads them (Go's ParseFloat: NaN and Inf in any case; prom-client writes `Nan`). */
function parseValue (text: string, line: number): number {
  if (/^[+-]?inf(inity)?$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity
  if (/^nan$/i.test(text)) return NaN
  if (!FLOAT.test(text)) throw new Error(`line ${line}: ${JSON.stringify(text)} is not a sample value`)
  return Number(text)
}

/** Reads `{a="x",b="y"}` starting at `at` (the brace); returns the labels and the index after `}`. */
function parseLabels (text: string, at: number, line: number): { labels: Record<string, string>, end: number } {
  const labels: Record<string, string> = {}
  let i = at + 1
  const fail = (why: string): never => { throw new Error(`line ${line}: ${why} in ${JSON.stringify(text)}`) }
  while (text[i] !== '}') {
    const eq = text.indexOf('=', i)
    if (eq < 0) fail('label without a value')
    const name = text.slice(i, eq)
    if (!LABEL_NAME.test(name)) fail(`bad label name ${JSON.stringify(name)}`)
    if (name in labels) fail(`label ${name} twice`)
    if (text[eq + 1] !== '"') fail('label value not quoted')
    let value = ''
    let j = eq + 2
    for (;; j++) {
      const c = text[j]
      if (c === undefined) fail('unterminated label value')
      if (c === '"') break
      if (c === '\n') fail('raw newline in a label value')
      if (c === '\\') {
        const next = text[++j]
        if (next === 'n') value += '\n'
        else if (next === '\\' || next === '"') value += next
        else fail(`bad escape \\${next ?? ''}`)
      } else {
        value += c
      }
    }
    labels[name] = value
    i = j + 1
    if (text[i] === ',') i++
    else if (text[i] !== '}') fail('expected , or } after a label')
  }
  return { labels, end: i + 1 }
}

/** The family a sample name belongs to, given its type. */
function familyOf (families: Map<string, Family>, name: string): Family | undefined {
  const exact = families.get(name)
  if (exact !== undefined && exact.type !== 'histogram') return exact
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue
    const family = families.get(name.slice(0, -suffix.length))
    if (family?.type === 'histogram' || (family?.type === 'summary' && suffix !== '_bucket')) return family
  }
  return exact
}

function checkHistogram (family: Family): void {
  const series = new Map<string, { buckets: Array<[number, number]>, count?: number }>()
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    const entry = series.get(key) ?? { buckets: [] }
    series.set(key, entry)
    if (sample.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${sample.name}: a bucket without le`)
      entry.buckets.push([parseValue(le, 0), sample.value])
    } else if (sample.name.endsWith('_count')) {
      entry.count = sample.value
    }
  }
  for (const { buckets, count } of series.values()) {
    const last = buckets[buckets.length - 1]
    if (last === undefined || last[0] !== Infinity) throw new Error(`${family.name}: no +Inf bucket`)
    if (last[1] !== count) throw new Error(`${family.name}: +Inf bucket ${last[1]} is not _count ${String(count)}`)
    for (let i = 1; i < buckets.length; i++) {
      const [le, n] = buckets[i] as [number, number]
      const [prevLe, prevN] = buckets[i - 1] as [number, number]
      if (le <= prevLe || n < prevN) throw new Error(`${family.name}: buckets are not cumulative in increasing le`)
    }
  }
}

export function parsePrometheusText (text: string): Map<string, Family> {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the exposition does not end with a newline')
  const families = new Map<string, Family>()
  const closed = new Set<string>()
  const series = new Set<string>()
  const typed = new Set<string>()
  let current: Family | undefined
  const declare = (name: string, line: number): Family => {
    if (!METRIC_NAME.test(name)) throw new Error(`line ${line}: bad metric name ${JSON.stringify(name)}`)
    let family = families.get(name)
    if (family === undefined) {
      family = { name, type: 'untyped', help: undefined, samples: [] }
      families.set(name, family)
    } else if (family.samples.length > 0) {
      throw new Error(`line ${line}: HELP or TYPE for ${name} after its samples`)
    }
    return family
  }
  text.split('\n').slice(0, -1).forEach((raw, index) => {
    const line = index + 1
    if (raw.trim() === '') return
    if (raw.startsWith('#')) {
      const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw)
      if (match === null) return // a plain comment
      const [, keyword, name = '', rest = ''] = match
      const family = declare(name, line)
      if (keyword === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`line ${line}: unknown type ${JSON.stringify(rest)}`)
        if (typed.has(name)) throw new Error(`line ${line}: TYPE for ${name} twice`)
        typed.add(name)
        family.type = rest as MetricType
      } else {
        if (family.help !== undefined) throw new Error(`line ${line}: HELP for ${name} twice`)
        family.help = rest
      }
      return
    }
    const nameEnd = raw.search(/[{\s]/)
    if (nameEnd <= 0) throw new Error(`line ${line}: not a sample: ${JSON.stringify(raw)}`)
    const name = raw.slice(0, nameEnd)
    if (!METRIC_NAME.test(name)) throw new Error(`line ${line}: bad metric name ${JSON.stringify(name)}`)
    let labels: Record<string, string> = {}
    let rest = raw.slice(nameEnd)
    if (rest.startsWith('{')) {
      const parsed = parseLabels(raw, nameEnd, line)
      labels = parsed.labels
      rest = raw.slice(parsed.end)
    }
    const fields = rest.trim().split(/\s+/)
    if (!/^\s/.test(rest) || fields.length < 1 || fields.length > 2) throw new Error(`line ${line}: expected a value (and a timestamp) after ${name}`)
    const value = parseValue(fields[0] ?? '', line)
    if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) throw new Error(`line ${line}: bad timestamp ${fields[1]}`)
    const family = familyOf(families, name) ?? declare(name, line)
    if (family.type === 'histogram' && name === `${family.name}_bucket` && labels.le === undefined) throw new Error(`line ${line}: bucket without le`)
    if (family.type === 'histogram' && name === family.name) throw new Error(`line ${line}: histogram sample ${name} without a suffix`)
    if (family !== current) {
      if (current !== undefined) closed.add(current.name)
      if (closed.has(family.name)) throw new Error(`line ${line}: samples of ${family.name} are not in one group`)
      current = family
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (series.has(key)) throw new Error(`line ${line}: series ${key} twice`)
    series.add(key)
    family.samples.push({ name, labels, value })
  })
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family)
  return families
}

/** The sum of the samples named `name` whose labels include `labels`. */
export function sampleValue (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  let found = false
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue
      if (Object.entries(labels).some(([k, v]) => sample.labels[k] !== v)) continue
      total += sample.value
      found = true
    }
  }
  if (!found) throw new Error(`no sample ${name}${JSON.stringify(labels)}`)
  return total
}
