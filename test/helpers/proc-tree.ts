/** Which processes a test started, and whether any of them still runs (a zombie does not). */
import { readFileSync, readdirSync } from 'node:fs'
import { procStat } from '../../infra/process/owned.js'

export interface ProcessEntry {
  readonly pid: number
  /** with the pid, names one process for good (pids are reused) */
  readonly start: string
  /** its command line, for messages */
  readonly command: string
}

export function describeProcess (pid: number): ProcessEntry | undefined {
  const stat = procStat(pid)
  if (stat === undefined) return undefined
  let command = ''
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()
  } catch {}
  return { pid, start: stat.start, command }
}

/** Every process below `root` (its children, theirs, …; `root` excluded), as /proc shows them now. */
export function descendants (root: number): ProcessEntry[] {
  const children = new Map<number, number[]>()
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    const parent = Number.isInteger(pid) ? procStat(pid)?.parent : undefined
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), pid])
  }
  const found: ProcessEntry[] = []
  const visit = (pid: number): void => {
    for (const child of children.get(pid) ?? []) {
      const entry = describeProcess(child)
      if (entry !== undefined) found.push(entry)
      visit(child)
    }
  }
  visit(root)
  return found
}

/** Whether the process is still there and running: the same process (same start time), and not a zombie. */
export function stillRunning (entry: ProcessEntry): boolean {
  const stat = procStat(entry.pid)
  return stat !== undefined && stat.start === entry.start && stat.state !== 'Z' && stat.state !== 'X'
}
