/**
 * Smoke test of the benchmark harness: every scenario at a tiny size, so the
 * harness cannot rot. It asserts that the harness works and counts right,
 * not speed (benchmarks print figures; tests assert behaviour).
 */
import t from 'tap'
import { runScenario, table } from '../bench/index.js'

for (const scenario of ['relay', 'latency', 'fanout'] as const) {
  t.test(`${scenario}: every system delivers and is counted exactly`, async (t) => {
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
  })
}

t.test('--peers socketio: relay without the streams peer (a quick run while working on a change)', async (t) => {
  const report = await runScenario('relay', 'tiny', 1, () => {}, 'single', false)
  t.equal(report.switchboard.delivered, report.switchboard.expected)
  t.equal(report.socketio?.delivered, report.socketio?.expected)
  t.equal(report.socketioStreams, undefined, 'no streams peer')
  t.equal(report.ratioStreams, undefined)
  t.notMatch(table(report), /socketio-streams/)
})

t.test('memory: idle connections are made on both systems and measured', async (t) => {
  const report = await runScenario('memory', 'tiny', 1, () => {})
  for (const side of ['switchboard', 'socketio'] as const) {
    t.equal(report[side]?.connected, report[side]?.connections, `${side}: every idle connection was made`)
    t.type(report[side]?.bytesPerConnection, 'number', `${side}: a settled figure per connection`)
    t.type(report[side]?.bytesPerConnectionAt1s, 'number', `${side}: and the figure 1 s after connecting`)
  }
})

t.test('allocate: /allocate, the bare route and /allocate through nginx are measured without errors', async (t) => {
  const report = await runScenario('allocate', 'tiny', 1, () => {})
  t.ok((report.switchboard.requestsPerSecond ?? 0) > 0, '/allocate answered')
  t.equal(report.switchboard.errors, 0, 'no errors or non-2xx on /allocate')
  t.ok((report.switchboard.nginxRequestsPerSecond ?? 0) > 0, '/allocate answered through nginx in front of two registries')
  t.equal(report.switchboard.nginxErrors, 0, 'no errors or non-2xx through nginx')
  t.ok((report.bare?.requestsPerSecond ?? 0) > 0, 'the bare route answered')
})

t.test('scale: every connection is made through /allocate and counted by a server', async (t) => {
  const report = await runScenario('scale', 'tiny', 1, () => {})
  const figures = report.switchboard
  t.ok((figures.connections ?? 0) > 0, 'something was connected')
  t.equal(figures.connected, figures.connections, 'every connection is open')
  t.equal(figures.failed, 0, 'none failed')
  const perServer = [1, 2, 3, 4].map((n) => figures[`s${n}Connections`] ?? 0)
  t.equal(perServer.reduce((a, b) => a + b, 0), figures.connections, 'the servers\' own counts add up to every connection')
  t.equal(figures.countsAgree, 1, 'the servers count what the clients hold, server by server')
  t.type(report.ratio, 'number')
  t.ok(report.ratio >= 1, 'largest / smallest server')
  t.same(Object.keys(JSON.parse(JSON.stringify(report))).sort(), ['ratio', 'rounds', 'scenario', 'size', 'switchboard', 'target'], 'the --json shape, no peer')
})

t.test('quota: one user is refused once a budget is used up, and what Redis kept for it is measured', async (t) => {
  const report = await runScenario('quota', 'tiny', 1, () => {})
  t.equal(report.switchboard.smallStored, 100, 'small messages: the messages budget (100 at tiny size)')
  t.ok((report.switchboard.largeStored ?? 0) > 0 && (report.switchboard.largeStored ?? 0) <= 3, 'large ones: the bytes budget (160 kB: two or three of 64 kB)')
  t.ok((report.switchboard.largeBytes ?? 0) > 0 && (report.switchboard.smallBytes ?? 0) > 0, 'Redis grew by something for each')
  t.type(report.ratio, 'number')
})

t.test('relay --redis cluster: Switchboard on one Redis and on a 3-shard Redis Cluster, every message once on both', async (t) => {
  const report = await runScenario('relay', 'tiny', 1, () => {}, 'cluster')
  t.equal(report.scenario, 'relay-cluster')
  t.equal(report.switchboard.delivered, report.switchboard.expected, 'one Redis: every message')
  t.equal(report.cluster?.delivered, report.cluster?.expected, 'the cluster: every message')
  t.equal((report.switchboard.duplicates ?? 0) + (report.cluster?.duplicates ?? 0), 0, 'no duplicates')
})
