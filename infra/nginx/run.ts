/**
 * A throwaway nginx in front of some registries: infra/nginx's template in a
 * temporary folder, on a free port, killed with its parent. Used by the
 * `allocate` benchmark and by tests; `switchboard cluster up` runs its own
 * (detached, in the cluster's folder).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { packageRoot } from '../../plugins/package-root.js'
import { spawnOwned } from '../process/owned.js'
import { freePort } from '../redis/local.js'
import { NGINX, nginxConfig } from './config.js'

export interface LocalNginx {
  readonly url: string
  /** stops nginx and removes its folder */
  stop (): Promise<void>
}

/** Resolves once nginx answers GET /healthz (so at least one registry is up). */
export async function startNginx (registryPorts: number[], options: { keepaliveRequests?: number } = {}): Promise<LocalNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-nginx-'))
  mkdirSync(join(dir, 'logs'))
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, nginxConfig({ root: packageRoot(), runDir: dir, logDir: join(dir, 'logs'), listen: `127.0.0.1:${port}`, registryPorts, ...options }))
  // Its own process group, killed with its parent: the workers too, not just the master.
  const child = spawnOwned(NGINX, ['-c', conf, '-p', dir], { stdio: 'ignore' })
  const url = `http://127.0.0.1:${port}`
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, stop }
    } catch {}
    if (child.exitCode !== null || i > 200) {
      await stop()
      throw new Error(`nginx (${NGINX}) did not start`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
