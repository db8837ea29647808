/**
 * For a test file that has hung after its last test (tap then kills it with SIGALRM and says
 * nothing more): once every test of the file is done, an unref'd timer that, should the process
 * still be alive `afterMs` later, writes what keeps it alive to stderr. A process that exits as it
 * should never sees it.
 */
interface Teardown { teardown (fn: () => unknown): void }

export function reportHangAfterTests (t: Teardown, afterMs = 30_000): void {
  t.teardown(() => {
    setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? []
      const described = handles.map((h) => {
        const handle = h as { constructor?: { name?: string }, remoteAddress?: string, remotePort?: number, localPort?: number, _idleTimeout?: number }
        return `${handle.constructor?.name ?? typeof h}${handle.remotePort === undefined ? '' : ` ${handle.remoteAddress ?? ''}:${handle.remotePort}`}` +
          `${handle.localPort === undefined ? '' : ` local ${handle.localPort}`}${handle._idleTimeout === undefined ? '' : ` timeout ${handle._idleTimeout}`}`
      })
      process.stderr.write(`hang report: still running ${afterMs} ms after the last test; resources ${JSON.stringify(process.getActiveResourcesInfo())}; ` +
        `handles ${JSON.stringify(described)}\n`)
    }, afterMs).unref()
  })
}
