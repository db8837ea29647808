/**
 * `switchboard cluster up | down | status`: the command-line face of
 * infra/cluster (the local topology launcher).
 */
import { parseArgs } from 'node:util'
import { down, readCluster, status, table, up } from '../infra/cluster/index.js'

const USAGE = `usage: switchboard cluster <up|down|status> [options]

  up       start Redis master + 2 replicas + 3 Sentinels, registries behind nginx,
           socket servers and a health checker as local processes
           --sockets N      socket servers (default 3)
           --registries N   registries behind nginx (default 2)
           --redis R        sentinel (default), or cluster: a Redis Cluster of
                            3 primaries + 3 replicas instead of master + Sentinels
  down     stop everything 'up' started in the folder, and nothing else
  status   show each component's live state (--json: cluster.json plus live health)

  --dir D  working folder for configs, logs and cluster.json (default .cluster)`

export async function clusterCommand (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dir: { type: 'string', default: '.cluster' },
      sockets: { type: 'string', default: '3' },
      registries: { type: 'string', default: '2' },
      redis: { type: 'string', default: 'sentinel' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  const print = (line: string): void => { process.stdout.write(`${line}\n`) }
  const count = (name: string, value: string): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < 1 || n > 32) throw new Error(`--${name} must be a whole number from 1 to 32, got ${JSON.stringify(value)}`)
    return n
  }
  switch (values.help ? 'help' : positionals[0]) {
    case 'up': {
      if (values.redis !== 'sentinel' && values.redis !== 'cluster') throw new Error(`--redis must be sentinel or cluster, got ${JSON.stringify(values.redis)}`)
      const cluster = await up({
        dir: values.dir, sockets: count('sockets', values.sockets), registries: count('registries', values.registries), redis: values.redis, progress: print
      })
      print('')
      print(table(cluster.components))
      print('')
      print(`Open ${cluster.entry}/ to chat. Clients allocate there (GET ${cluster.entry}/allocate?user=alice).`)
      print(`Admin dashboard: ${cluster.entry}/admin/ (the token is adminToken in ${values.dir}/cluster.json).`)
      print(`REDIS_URL=${cluster.redisUrl}`)
      print(`Details: ${values.dir}/cluster.json  ·  logs: ${values.dir}/logs  ·  stop: switchboard cluster down --dir ${values.dir}`)
      return 0
    }
    case 'down': {
      readCluster(values.dir)
      await down(values.dir, print)
      print('cluster stopped')
      return 0
    }
    case 'status': {
      const live = await status(values.dir)
      if (values.json) print(JSON.stringify(live, null, 2))
      else print(table(live.components))
      return live.components.every((c) => c.running && c.healthy) ? 0 : 1
    }
    default:
      print(USAGE)
      return positionals[0] === undefined || values.help ? 0 : 2
  }
}
