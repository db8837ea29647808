/**
 * The coverage a whole run must reach: `npm test` runs this after `tap`, on the
 * per-file summary tap wrote (.taprc: json-summary, `.tap/report/coverage-summary.json`).
 *
 * Why not tap's own thresholds: tap 21 checks only the four totals (statements,
 * branches, functions, lines; @tapjs/run report.js), and only over the files a run
 * loaded. A plugin no test loads is not in the totals at all, and one that is
 * loaded (registered by an app) but never exercised barely moves them. So the
 * floor is per file too: every file of the published library (plugins/,
 * client/sdk/) must be loaded and have most of its functions run. The totals are
 * checked here as well, so one place holds the policy. tap's thresholds are 0
 * (.taprc): a run of a few files covers little, and that is no error.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

interface Metric { readonly pct: number }
type Metrics = Record<'lines' | 'statements' | 'functions' | 'branches', Metric>
/** istanbul's json-summary: `total`, and one entry per file by absolute path */
export type CoverageSummary = Record<string, Metrics>

export const FLOOR = {
  /** percent of the whole run */
  total: { statements: 90, branches: 86, functions: 90, lines: 90 },
  /**
   * percent of each library file. A loaded but untested plugin sits far below on functions, its
   * route handlers never run (admin/index.ts: 40 %, admin/fleet.ts: 0 %, in a run of
   * metrics.test.ts alone, which registers the admin plugin without testing it), while in a whole
   * run the lowest file has 75 % of its functions and 84 % of its lines covered.
   */
  perFile: { functions: 60, lines: 70 },
  /** the library: what the package publishes for apps to run */
  dirs: ['plugins', 'client/sdk']
} as const

/** The library's source files, relative to `root`. */
export function libraryFiles (root: string): string[] {
  return FLOOR.dirs.flatMap((dir) => (readdirSync(join(root, dir), { recursive: true }) as string[])
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => join(dir, file)))
    .sort()
}

/** What falls short of the floor (nothing when it is met). `files`: the library's files, relative to `root`. */
export function shortfalls (summary: CoverageSummary, root: string, files: readonly string[]): string[] {
  const problems: string[] = []
  const total = summary.total
  if (total === undefined) return ['the summary has no total: was coverage collected?']
  for (const [metric, floor] of Object.entries(FLOOR.total) as Array<[keyof Metrics, number]>) {
    if (total[metric].pct < floor) problems.push(`the run's ${metric}: ${total[metric].pct}% (floor ${floor}%)`)
  }
  const byFile = new Map(Object.entries(summary).filter(([file]) => file !== 'total').map(([file, metrics]) => [relative(root, file), metrics]))
  for (const file of files) {
    const metrics = byFile.get(file)
    if (metrics === undefined) {
      problems.push(`${file}: no test loads it`)
      continue
    }
    for (const [metric, floor] of Object.entries(FLOOR.perFile) as Array<[keyof Metrics, number]>) {
      if (metrics[metric].pct < floor) problems.push(`${file}: ${metrics[metric].pct}% of ${metric} (floor ${floor}%)`)
    }
  }
  return problems
}

/** One line that says the floor holds, with the run's figures. */
export function metLine (summary: CoverageSummary, files: readonly string[]): string {
  const total = summary.total
  const figures = (Object.entries(FLOOR.total) as Array<[keyof Metrics, number]>)
    .map(([metric, floor]) => `${metric} ${total?.[metric].pct ?? 0}% (floor ${floor}%)`).join(', ')
  return `coverage floor met: ${figures}; each of the ${files.length} files of ${FLOOR.dirs.join('/ and ')}/ ` +
    `has at least ${FLOOR.perFile.lines}% of its lines and ${FLOOR.perFile.functions}% of its functions covered`
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const file = join(root, '.tap/report/coverage-summary.json')
  const summary = JSON.parse(readFileSync(file, 'utf8')) as CoverageSummary
  const files = libraryFiles(root)
  const problems = shortfalls(summary, root, files)
  if (problems.length === 0) {
    process.stdout.write(`${metLine(summary, files)}\n`)
  } else {
    process.stderr.write(`coverage floor not met (test/coverage-floor.ts, from ${relative(root, file)}):\n${problems.map((p) => `  ${p}\n`).join('')}`)
    process.exitCode = 1
  }
}
