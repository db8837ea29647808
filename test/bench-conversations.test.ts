/** The benchmark harness, `conversations` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { runScenario, table } from '../bench/index.js'

t.test('conversations: every list and every send is answered, and each user lists all 200 of its conversations', async (t) => {
  const report = await runScenario('conversations', 'tiny', 1, () => {})
  const f = report.switchboard
  t.equal(f.conversationsOfUser, 200, 'each user is in 150 direct conversations and 50 rooms')
  t.ok((f.sends ?? 0) > 0, 'sends were made')
  t.equal(f.sendsAnswered, f.sends, 'every send acknowledged')
  t.equal(f.delivered, f.expected, 'every send delivered to its peer and to the sender')
  t.equal(f.expected, 2 * (f.sends ?? 0), 'a send is delivered twice: the peer, and the sender\'s own copy')
  t.equal(f.duplicates, 0, 'none twice')
  t.ok((f.conversations ?? 0) > 0, 'lists were asked for')
  t.equal(f.conversationsAnswered, f.conversations, 'every list answered')
  t.equal(f.entries, 50 * (f.conversations ?? 0), 'each first page holds 50 entries')
  t.equal(f.entriesExpected, f.entries, 'and the harness expected as much')
  t.ok((f.parts ?? 0) >= (f.conversations ?? 0), 'at least one frame per reply')
  t.equal(f.listed, 200, 'page after page, the list holds all 200 conversations')
  t.ok((f.sendsPerCpuSecond ?? 0) > 0 && (f.conversationsPerCpuSecond ?? 0) > 0, 'both are per CPU-second')
  t.ok((f.conversationsRedisCpuUs ?? -1) >= 0 && (f.sendRedisCpuUs ?? -1) >= 0, 'Redis\'s share is read')
  t.equal(report.target, 1, 'no more costly than a send')
  t.type(report.ratio, 'number')
  t.same(Object.keys(JSON.parse(JSON.stringify(report))).sort(), ['ratio', 'rounds', 'scenario', 'size', 'switchboard', 'target'], 'the --json shape: no peer, and a tiny run has no `met`')
  t.match(table(report), /not judged/)
  t.notMatch(table(report), /answered|expected \d/, 'the table names no shortfall')
})
