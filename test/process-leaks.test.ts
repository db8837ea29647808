/**
 * A test file that times out leaves no process behind. tap's runner ends it with a message and
 * SIGALRM, or SIGKILL when its event loop is stuck; its teardown never runs. Every process it
 * started must die all the same: redis-server, a socket server, nginx's master and workers, and
 * the detached processes of a `switchboard cluster up`, finished or still starting
 * (infra/process/owned.ts). Two files (test/fixtures/timeout) run under a real tap runner, one for
 * each way of being killed.
 */
import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isOurs } from '../infra/cluster/processes.js'
import type { ClusterFile } from '../infra/cluster/index.js'
import { procStat } from '../infra/process/owned.js'
import { eventually } from './helpers/client.js'
import { plainEnv, runToEnd } from './helpers/processes.js'
import { describeProcess, stillRunning } from './helpers/proc-tree.js'
import type { ProcessEntry } from './helpers/proc-tree.js'
import { REPORTS } from './fixtures/timeout/children.js'
import type { TimeoutReport } from './fixtures/timeout/children.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TAP = join(ROOT, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs')
const FIXTURES = ['hangs', 'spins']

t.test('a test file that times out leaves none of its processes running, however tap kills it', async (t) => {
  // The inner runner's project is a folder of its own: its .tap data must not replace this run's.
  const work = mkdtempSync(join(tmpdir(), 'sb-timeout-'))
  t.teardown(() => { rmSync(work, { recursive: true, force: true }) })
  writeFileSync(join(work, 'package.json'), '{ "private": true }\n')
  symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules')) // the runner loads tap from its project
  // Nothing of this runner's reaches the inner one (its loaders, coverage, child ids): it starts as `npx tap` would.
  const run = await runToEnd(process.execPath, [
    TAP, '--jobs=2', '--timeout=120', '--disable-coverage', '--reporter=tap', `--tsconfig=${join(ROOT, 'tsconfig.json')}`,
    ...FIXTURES.map((name) => join(ROOT, 'test', 'fixtures', 'timeout', `${name}.ts`))
  ], { cwd: work, env: plainEnv({ [REPORTS]: work }), timeoutMs: 150_000 })
  const output = `${run.stdout}${run.stderr}`
  t.equal(run.code, 1, 'the run fails')
  // Each file timed out: reported by the file itself (hangs.ts, when tap's handler in it ran before
  // the runner's signals ended it) or by the runner (a file killed before it could say anything).
  for (const name of FIXTURES) {
    const timedOut = new RegExp(String.raw`expired: \S*${name}\.ts|# Subtest: \S*${name}\.ts\n(?: {4}.*\n)*? {4}not ok \d+ - timeout!`)
    t.match(output, timedOut, `${name}.ts timed out`)
  }

  const started: Array<ProcessEntry & { fixture: string }> = []
  const clusterDirs: Array<{ fixture: string, dir: string }> = []
  for (const fixture of FIXTURES) {
    const file = join(work, `${fixture}.json`)
    if (!existsSync(file)) {
      t.fail(`${fixture}.ts did not get as far as its report; the runner said:\n${output}`)
      continue
    }
    const report = JSON.parse(readFileSync(file, 'utf8')) as TimeoutReport
    const commands = report.processes.map((p) => p.command).join('\n')
    // hangs.ts's `cluster up` had finished: what it started is no longer below the test (cluster.json has it).
    const kinds = [/redis-server/, /nginx: master/, /nginx: worker/, /cli\.js socket/, /watchdog\.mjs/,
      ...(fixture === 'spins' ? [/cli\.js cluster up/, /redis-server \S+ \[cluster\]/] : [])]
    for (const kind of kinds) t.match(commands, kind, `${fixture}: had started ${String(kind)}`)
    t.notOk(report.self !== undefined && stillRunning(report.self), `${fixture}: the test process is dead`)
    started.push(...report.processes.map((p) => ({ ...p, fixture })))
    clusterDirs.push({ fixture, dir: report.clusterDir })
    t.teardown(() => { rmSync(report.clusterDir, { recursive: true, force: true }) })
  }
  const hangsCluster = clusterDirs.find((c) => c.fixture === 'hangs')
  if (hangsCluster !== undefined) {
    const cluster = JSON.parse(readFileSync(join(hangsCluster.dir, 'cluster.json'), 'utf8')) as ClusterFile
    t.ok(cluster.components.some((c) => c.role === 'health'), 'hangs.ts: its cluster had finished starting')
  }

  const survivors = (): string[] => {
    const below = started.filter(stillRunning).map((p) => `${p.fixture}: ${p.pid} ${p.command}`)
    if (below.length > 0) return below
    // What a cluster up started, detached, by the marks `cluster down` goes by: also what it started
    // after the list above was made (spins.ts's was still starting).
    return readdirSync('/proc').map(Number).filter((pid) => Number.isInteger(pid)).flatMap((pid) => clusterDirs
      .filter(({ dir }) => isOurs(pid, dir) && procStat(pid)?.state !== 'Z')
      .map(({ fixture }) => `${fixture}: ${pid} ${describeProcess(pid)?.command ?? '?'} (cluster up, detached)`))
  }
  // The watchdogs act once the test processes are gone; give them time on a busy machine.
  await eventually(() => survivors().length === 0, 30_000).catch(() => {})
  t.same(survivors(), [], 'none of them is running (a zombie is dead)')
})
