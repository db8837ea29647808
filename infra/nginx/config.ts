/**
 * nginx in front of the registries: infra/nginx/nginx.conf.template filled
 * in for a set of registry ports. Used by `switchboard cluster up` and by the
 * `allocate` benchmark.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx'

export interface NginxConfigOptions {
  /** the package root (holds infra/) */
  readonly root: string
  /** pid file and temp paths */
  readonly runDir: string
  readonly logDir: string
  /** host:port to listen on */
  readonly listen: string
  readonly registryPorts: readonly number[]
  /** requests per client keep-alive connection (default 1000, nginx's own) */
  readonly keepaliveRequests?: number
}

/** Fills `{{NAME}}` placeholders; unknown ones become empty. */
export function fill (text: string, values: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_, key: string) => values[key] ?? '')
}

export function nginxConfig (options: NginxConfigOptions): string {
  return fill(readFileSync(join(options.root, 'infra', 'nginx', 'nginx.conf.template'), 'utf8'), {
    RUN_DIR: options.runDir,
    LOG_DIR: options.logDir,
    LISTEN: options.listen,
    KEEPALIVE_REQUESTS: String(options.keepaliveRequests ?? 1000),
    UPSTREAMS: options.registryPorts.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join('\n')
  })
}
