/**
 * The coverage policy (issue 16, point 6): a run reports its coverage without
 * calling a partial one an error, and the floor a whole run must reach
 * (test/coverage-floor.ts) fails on a library file no test loads, or one that is
 * loaded but barely exercised, and on low totals.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FLOOR, libraryFiles, metLine, shortfalls } from './coverage-floor.js'
import type { CoverageSummary } from './coverage-floor.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

t.test('with this project\'s .taprc, a passing run that covers only part of its code reports its coverage, calls it no error, and passes', async (t) => {
  // A project of its own (a nested tap run in this one would wipe this run's coverage data).
  const dir = mkdtempSync(join(tmpdir(), 'sb-taprc-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, '.taprc'), readFileSync(join(ROOT, '.taprc')))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'taprc-check', private: true, type: 'module' }))
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  writeFileSync(join(dir, 'lib.mjs'), 'export function used () { return 1 }\nexport function unused () { return 2 }\n')
  mkdirSync(join(dir, 'test'))
  writeFileSync(join(dir, 'test', 'partial.test.mjs'), "import t from 'tap'\nimport { used } from '../lib.mjs'\nt.equal(used(), 1)\n")

  const tap = join(dirname(createRequire(import.meta.url).resolve('tap/package.json')), 'dist/esm/run.mjs')
  // A clean environment: none of the variables through which this run's tap collects coverage.
  const child = spawn(process.execPath, [tap, 'test/partial.test.mjs'], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.equal(code, 0, 'the run passes')
  t.match(output, /Functions\s+: 50% \( 1\/2 \)/, 'coverage is reported, half of the functions')
  // (Not the word itself in this assertion's name: this run's own output would then have it.)
  t.notMatch(output, /ERROR/, 'and nothing in its output calls the partial coverage an error')
  const summary = JSON.parse(readFileSync(join(dir, '.tap/report/coverage-summary.json'), 'utf8')) as CoverageSummary
  t.equal(summary[join(dir, 'lib.mjs')]?.functions.pct, 50, 'the per-file summary the floor reads is written')
})

/** A summary in which every library file, and the run, has `pct` of everything. */
function summaryOf (files: readonly string[], pct: number): CoverageSummary {
  const metrics = { lines: { pct }, statements: { pct }, functions: { pct }, branches: { pct } }
  return Object.fromEntries([['total', metrics], ...files.map((file) => [join(ROOT, file), metrics])])
}

t.test('the floor: met by a run that covers the library, failed by an unloaded, a barely exercised file, or low totals', async (t) => {
  const files = libraryFiles(ROOT)
  t.ok(files.includes('plugins/socket/cork.ts') && files.includes('client/sdk/client.ts'), `the library: ${files.length} files of plugins/ and client/sdk/`)
  t.notOk(files.some((f) => f.endsWith('.d.ts') || !f.endsWith('.ts')), 'TypeScript sources only')

  const full = summaryOf(files, 95)
  t.same(shortfalls(full, ROOT, files), [], 'met')
  t.notMatch(metLine(full, files), /ERROR/, 'and said without calling anything an error')

  const unloaded = summaryOf(files, 95)
  delete unloaded[join(ROOT, 'plugins/health/index.ts')]
  t.same(shortfalls(unloaded, ROOT, files), ['plugins/health/index.ts: no test loads it'], 'a plugin no test loads (absent from tap\'s totals)')

  const idle = summaryOf(files, 95)
  idle[join(ROOT, 'plugins/admin/index.ts')] = { lines: { pct: 77.09 }, statements: { pct: 77.09 }, functions: { pct: 40 }, branches: { pct: 33.33 } }
  t.same(shortfalls(idle, ROOT, files), [`plugins/admin/index.ts: 40% of functions (floor ${FLOOR.perFile.functions}%)`],
    'a plugin registered but never exercised (the admin plugin\'s figures in a run of metrics.test.ts alone)')

  const low = summaryOf(files, 95)
  low.total = { lines: { pct: 80 }, statements: { pct: 80 }, functions: { pct: 95 }, branches: { pct: 95 } }
  t.same(shortfalls(low, ROOT, files), ['the run\'s statements: 80% (floor 90%)', 'the run\'s lines: 80% (floor 90%)'], 'low totals')
})
