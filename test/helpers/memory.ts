/**
 * Memory this process retains after a full GC: what it really holds (RSS mostly measures garbage
 * not yet collected). Needs node --expose-gc (set in .taprc).
 */
export function heldBytes (): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc (set in .taprc)')
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}
