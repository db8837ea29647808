/** The benchmark harness, `read` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { runScenario, table } from '../bench/index.js'

t.test('read: every read moves its position and is told, and the unread counts drop by as much', async (t) => {
  const report = await runScenario('read', 'tiny', 1, () => {})
  const f = report.switchboard
  t.equal(f.sendsAnswered, f.sends, 'every send acknowledged')
  t.equal(f.delivered, f.expected, 'every send delivered')
  t.ok((f.reads ?? 0) > 0, 'reads were made')
  t.equal(f.readsAnswered, f.reads, 'every read answered')
  t.equal(f.moved, f.reads, 'every read moved its position')
  t.ok((f.roomReads ?? 0) > 0 && (f.roomReads ?? 0) < (f.reads ?? 0), 'in direct conversations and in rooms')
  t.equal(f.readEvents, f.moved, 'each move told to the reader\'s connection')
  t.equal(f.receipts, f.receiptsExpected, 'each move gave the other members a receipt (the peer, or every listener of the room)')
  t.equal(f.receiptsExpected, (f.moved ?? 0) - (f.roomReads ?? 0) + 3 * (f.roomReads ?? 0), 'a room\'s listeners: the two readers and the poster')
  t.equal(f.unreadCleared, f.moved, 'the list\'s unread counts dropped by one a read')
  t.equal(f.listed, 200, 'the list holds all 200 conversations')
  t.ok((f.readsPerCpuSecond ?? 0) > 0 && (f.sendsPerCpuSecond ?? 0) > 0, 'per CPU-second')
  t.equal(report.target, 1)
  t.same(Object.keys(JSON.parse(JSON.stringify(report))).sort(), ['ratio', 'rounds', 'scenario', 'size', 'switchboard', 'target'], 'the --json shape')
  t.match(table(report), /not judged/)
  t.notMatch(table(report), /answered|expected \d/, 'the table names no shortfall')
})

t.test('the table names what a read or list run fell short of', async (t) => {
  const text = table({
    scenario: 'read',
    switchboard: { reads: 10, readsAnswered: 9, receipts: 3, receiptsExpected: 5, listed: 200, listedExpected: 200 },
    ratio: 0.5,
    target: 1,
    met: false,
    rounds: 1
  })
  t.match(text, /switchboard: reads: 9 of 10 answered/)
  t.match(text, /switchboard: receipts 3, expected 5/)
  t.notMatch(text, /listed \d+, expected/, 'not what came out right')
  t.match(text, /NOT met/)
})
