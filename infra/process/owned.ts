/**
 * Child processes that die with the process that started them, however it
 * ends: a normal exit, a signal, or SIGKILL (tap kills a test file that times
 * out with SIGALRM, then SIGKILL; teardown never runs, and neither does any
 * handler of ours).
 *
 * How. Each child runs in a process group of its own (`detached: true`), so
 * whatever it forks (nginx's workers, Redis's save children) goes with it.
 * Nothing in this process can act once it is SIGKILLed, so the killing is done
 * by a watchdog (watchdog.mjs): one small node process per owner, started at
 * the first child, holding the read end of a pipe from it. The kernel closes a
 * dead process's end of every pipe, whatever killed it, so the watchdog's
 * stdin ends exactly when this process is gone; it then kills every group it
 * was told about and exits.
 *
 * Why this and not something else: Linux's prctl(PR_SET_PDEATHSIG) is not
 * reachable from Node; a supervisor in front of every child would stand
 * between the caller and the child it thinks it holds (its pid, its exit code,
 * the signals tests send it: SIGSTOP, SIGKILL to fail a Redis over); cgroups
 * need privileges a test run does not have. One watchdog per owner costs one
 * process and leaves every ChildProcess exactly what spawn returned.
 *
 * A pid can be reused once its process is gone, so the watchdog is told each
 * child's start time too and leaves alone a process that has its number but
 * started at another time. A group's number is not reused while the group has
 * members, so a group whose leader died first (nginx's master killed, its
 * workers still running) is still found.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess, SpawnOptions } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { join } from 'node:path'
import { packageRoot } from '../../plugins/package-root.js'

/** What the watchdog reads, one JSON object a line (watchdog.mjs). */
type Order =
  | { readonly pid: number, readonly start: string, readonly group: boolean }
  | { readonly folder: string, readonly env: string }

export const WATCHDOG = join(packageRoot(), 'infra', 'process', 'watchdog.mjs')

const children = new Map<ChildProcess, boolean>()
let watchdog: ChildProcess | undefined
let hooked = false

export interface ProcStat {
  /** R, S, D, … Z for a zombie (dead, not yet reaped) */
  readonly state: string
  readonly parent: number
  readonly group: number
  /** clock ticks since boot: with the pid, names one process for good */
  readonly start: string
}

/** /proc/PID/stat of a live or zombie process; undefined once it is reaped (or without /proc). */
export function procStat (pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name, in parentheses, may hold spaces: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { state: fields[0] ?? '', parent: Number(fields[1]), group: Number(fields[2]), start: fields[19] ?? '' }
  } catch {
    return undefined
  }
}

function tell (order: Order): void {
  if (watchdog === undefined) {
    // Its own session: a terminal's Ctrl-C or a signal to our group does not stop it before it has done its work.
    // No NODE_OPTIONS: a test runner's loaders have nothing to do in it.
    watchdog = spawn(process.execPath, [WATCHDOG], { detached: true, stdio: ['pipe', 'ignore', 'inherit'], env: {} })
    watchdog.on('error', (err) => { process.emitWarning(`process watchdog: ${err.message}`) })
    watchdog.stdin?.on('error', () => {}) // a watchdog that died early: the exit hook below still runs
    watchdog.unref()
    if (watchdog.stdin instanceof Socket) watchdog.stdin.unref()
  }
  // A pipe write is made at once (libuv writes before returning when nothing is queued), so an order
  // given just before this process is killed still reaches the watchdog: it reads what the pipe holds before its end.
  watchdog.stdin?.write(`${JSON.stringify(order)}\n`)
}

function hookExit (): void {
  if (hooked) return
  hooked = true
  // On a normal exit, kill at once rather than a moment later in the watchdog. A child that has
  // not exited is not reaped yet, so its pid is still its own.
  process.once('exit', () => {
    for (const [child, group] of children) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue
      try {
        process.kill(group ? -child.pid : child.pid, 'SIGKILL')
      } catch {}
    }
  })
}

/**
 * Kills `child` (with its process group, when it leads one: see spawnOwned) when this process ends,
 * however it ends.
 */
export function killOnExit (child: ChildProcess): void {
  if (child.pid === undefined) return // it did not start ('error' says why)
  const found = procStat(child.pid)
  const group = found?.group === child.pid
  children.set(child, group)
  child.once('exit', () => children.delete(child))
  hookExit()
  if (found !== undefined) tell({ pid: child.pid, start: found.start, group })
}

/** spawn(), in a process group of its own that is killed when this process ends, however it ends. */
export function spawnOwned (command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true })
  killOnExit(child)
  return child
}

/**
 * When this process ends, however it ends, kills every process working in `folder` (its working
 * directory is the folder or inside it) or carrying `env` (`NAME=value`) in its environment: for
 * processes a launcher started detached on purpose, to outlive it (`switchboard cluster up`),
 * which must still not outlive a test that ran the launcher.
 */
export function killFolderOnExit (folder: string, env: string): void {
  tell({ folder, env })
}
