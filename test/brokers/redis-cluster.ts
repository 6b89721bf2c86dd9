import { execFile } from 'node:child_process'
import type { BrokerHandle } from './index'
import { ensureBinary } from './install'
import { freePort, LOOPBACK, sleep } from './ports'
import { redisCommand, startRedis } from './redis'

export interface ClusterHandle {
  /** Seed nodes for a cluster client, e.g. `new Cluster(cluster.nodes)`. */
  readonly nodes: { host: string; port: number }[]
  /** One handle per node (masters first, then replicas), e.g. to kill a node. */
  readonly brokers: BrokerHandle[]
  /** Stops every node and removes their temp dirs; idempotent. */
  stop(): Promise<void>
}

const CREATE_TIMEOUT_MS = 30_000
const CONVERGE_TIMEOUT_MS = 20_000

function run(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim()
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${output}`))
      else resolve(output)
    })
  })
}

async function clusterState(port: number): Promise<string> {
  try {
    const info = await redisCommand(port, ['CLUSTER', 'INFO'], 1000)
    return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown'
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  }
}

export interface ClusterOptions {
  /** Masters; 3 is the minimum Redis accepts. @default 3 */
  masters?: number
  /** Replicas per master. @default 0 */
  replicas?: number
  /** `cluster-node-timeout` in ms: how long a node may be unreachable before failover starts. @default 15000 */
  nodeTimeoutMs?: number
  /** More redis-server arguments for every node (e.g. `['--appendonly', 'yes']`). */
  extraArgs?: string[]
}

/** Whether every replica has its master link up (`INFO replication` on each node). */
async function replicasLinked(ports: number[]): Promise<string[]> {
  const states = await Promise.all(
    ports.map((port) => redisCommand(port, ['INFO', 'replication'], 1000).catch((err: Error) => err.message))
  )
  return states.filter((info) => /role:slave/.test(info) && !/master_link_status:up/.test(info))
}

/** Starts a Redis Cluster of `masters` masters (default 3, the minimum), each with `replicas` replicas, on loopback. */
export async function startRedisCluster(options: ClusterOptions = {}): Promise<ClusterHandle> {
  const redisCli = ensureBinary('redis-cli', 'redis-tools')
  const masters = options.masters ?? 3
  const replicas = options.replicas ?? 0
  const nodeArgs = [
    ...(options.nodeTimeoutMs === undefined ? [] : ['--cluster-node-timeout', String(options.nodeTimeoutMs)]),
    ...(options.extraArgs ?? [])
  ]
  // Bus port defaults to port + 10000, which overflows for ports above 55535: pick it explicitly.
  const extraArgs = async () => [
    ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
    ...['--cluster-port', String(await freePort())],
    ...nodeArgs
  ]
  const count = masters * (1 + replicas)
  const started = await Promise.allSettled(Array.from({ length: count }, () => startRedis({ extraArgs })))
  const brokers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  const stop = async (): Promise<void> => {
    await Promise.all(brokers.map((broker) => broker.stop()))
  }
  const cluster: ClusterHandle = { nodes: brokers.map(({ host, port }) => ({ host, port })), brokers, stop }

  try {
    const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected')
    if (failed) throw failed.reason
    const addresses = brokers.map(({ port }) => `${LOOPBACK}:${port}`)
    await run(
      redisCli,
      ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'],
      CREATE_TIMEOUT_MS
    )

    // redis-cli returns once slots are assigned; gossip may still be settling on some nodes.
    const deadline = Date.now() + CONVERGE_TIMEOUT_MS
    for (;;) {
      const states = await Promise.all(brokers.map(({ port }) => clusterState(port)))
      const unlinked = await replicasLinked(brokers.map(({ port }) => port))
      if (states.every((state) => state === 'ok') && unlinked.length === 0) return cluster
      if (Date.now() >= deadline) {
        const detail = brokers.map(({ port }, i) => `${port}: ${states[i]}`).join(', ')
        if (unlinked.length > 0)
          throw new Error(`Redis replicas not linked within ${CONVERGE_TIMEOUT_MS} ms (${detail})`)
        throw new Error(`Redis cluster not ok within ${CONVERGE_TIMEOUT_MS} ms (${detail})`)
      }
      await sleep(100)
    }
  } catch (err) {
    await stop()
    throw err
  }
}
