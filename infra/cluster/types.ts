/** What `switchboard cluster up` writes to cluster.json, and reads back. */

export type Role = 'redis-master' | 'redis-replica' | 'sentinel' | 'redis-cluster-node' | 'registry' | 'nginx' | 'socket' | 'health'

/** How Redis runs: one master + replicas watched by Sentinels, or a Redis Cluster (3 primaries + 3 replicas) */
export type RedisTopology = 'sentinel' | 'cluster'

export interface Component {
  readonly role: Role
  readonly id: string
  readonly pid: number
  readonly host: string
  readonly port: number
  /** http(s)/ws URL where it has one */
  readonly url?: string
  readonly log: string
}

export interface ClusterFile {
  readonly dir: string
  readonly createdAt: string
  /** where clients start: nginx in front of the registries */
  readonly entry: string
  /** what every Switchboard process was given as REDIS_URL */
  readonly redisUrl: string
  /** absent in files written before Redis Cluster was an option: sentinel */
  readonly redis?: RedisTopology
  /** the Sentinels (none with a Redis Cluster) */
  readonly sentinel: { readonly name: string, readonly addresses: string[] }
  /** bearer token for POST /drain on the socket servers */
  readonly adminToken: string
  readonly components: Component[]
}

export interface ComponentStatus extends Component {
  readonly running: boolean
  readonly healthy: boolean
  readonly detail?: string
}
