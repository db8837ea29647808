/**
 * The benchmark harness's smoke tests, one file per scenario (test/bench-*.test.ts), so that each
 * fits tap's per-file timeout on a busy machine and the scenarios run in parallel: every scenario
 * at a tiny size, asserting that the harness works and counts right, never speed (benchmarks print
 * figures; tests assert behaviour).
 */
import type { Test } from 'tap'
import { runScenario, table } from '../../bench/index.js'

/** relay, latency, fanout: every system delivers every message once, counted exactly, in the --json shape. */
export async function deliversOnEverySystem (t: Test, scenario: 'relay' | 'latency' | 'fanout'): Promise<void> {
  const report = await runScenario(scenario, 'tiny', 1, () => {})
  // relay and fanout also run Socket.IO with the streams adapter (the history-keeping peer).
  const streams = scenario !== 'latency'
  for (const side of ['switchboard', 'socketio', ...streams ? ['socketioStreams'] as const : []] as const) {
    const figures = report[side] ?? {}
    t.ok((figures.expected ?? 0) > 0, `${side}: something was sent`)
    t.equal(figures.delivered, figures.expected, `${side}: every message counted once`)
    t.equal(figures.duplicates, 0, `${side}: no duplicates`)
    t.ok((figures.p99Ms ?? 0) >= (figures.p50Ms ?? 0), `${side}: percentiles are ordered`)
  }
  t.type(report.ratio, 'number')
  t.match(table(report), streams ? /switchboard\s+socketio\s+socketio-streams/ : /switchboard\s+socketio/)
  if (streams) t.type(report.ratioStreams, 'number', 'a ratio to the streams peer too')
  const keys = ['ratio', 'rounds', 'scenario', 'size', 'socketio', 'switchboard', 'target', ...streams ? ['socketioStreams', 'ratioStreams'] : []]
  t.same(Object.keys(JSON.parse(JSON.stringify(report))).sort(), keys.sort(), 'the --json shape: a tiny run has no `met`')
  t.match(table(report), /not judged\. A --size tiny run checks that the harness works and counts right; it measures nothing/, 'the table says what a tiny run is')
  t.notMatch(table(report), /\bmet\b/, 'and claims neither met nor not met')
}
