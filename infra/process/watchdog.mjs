/**
 * The watchdog of one process (see owned.ts): reads orders on stdin, one JSON
 * object a line, and when stdin ends (its owner is gone: the kernel closes a
 * dead process's pipes, SIGKILL included) kills what the orders name, then
 * exits.
 *
 *   { pid, start, group }  the child `pid` that started at `start` (field 22 of
 *                          /proc/PID/stat), with its whole process group if `group`
 *   { folder, env }        every process whose working directory is `folder` or
 *                          inside it, or whose environment holds `env`
 *
 * Plain JavaScript, run by node without loaders: it must start in a moment,
 * from the sources and from an installed package alike.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'

const children = []
const folders = []
let buffered = ''

/** state, process group and start time of a process; undefined when it is gone */
function stat (pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return { state: fields[0], group: Number(fields[2]), start: fields[19] }
  } catch {
    return undefined
  }
}

function kill (target) {
  try {
    process.kill(target, 'SIGKILL')
  } catch {}
}

function killChild ({ pid, start, group }) {
  const now = stat(pid)
  if (now !== undefined && now.start !== start) return // the number now belongs to another process
  // A group's number stays taken while the group has members, so -pid reaches only this child's group.
  if (group) kill(-pid)
  else if (now !== undefined && now.state !== 'Z') kill(pid)
}

function read (what) {
  try {
    return what()
  } catch {
    return ''
  }
}

/** Kills the live processes in the folders; whether there were any. */
function sweepFolders () {
  let found = false
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    const cwd = read(() => readlinkSync(`/proc/${pid}/cwd`))
    const environ = read(() => readFileSync(`/proc/${pid}/environ`, 'utf8')).split('\0')
    const ours = folders.some(({ folder, env }) => cwd === folder || cwd.startsWith(`${folder}/`) || environ.includes(env))
    const now = ours ? stat(pid) : undefined
    if (now === undefined || now.state === 'Z') continue
    found = true
    kill(now.group === pid ? -pid : pid)
  }
  return found
}

async function reap () {
  for (const child of children) killChild(child)
  // A launcher killed in the middle of starting something may have forked a child that has not yet
  // entered its folder or set its environment: look again until two looks in a row find nothing.
  let quiet = 0
  for (let looks = 0; folders.length > 0 && quiet < 2 && looks < 100; looks++) {
    quiet = sweepFolders() ? 0 : quiet + 1
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  process.exit(0)
}

process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  buffered += chunk
  const lines = buffered.split('\n')
  buffered = lines.pop() ?? ''
  for (const line of lines) {
    const order = JSON.parse(line)
    if (typeof order.folder === 'string') folders.push(order)
    else children.push(order)
  }
})
process.stdin.once('end', reap)
process.stdin.once('error', reap)
