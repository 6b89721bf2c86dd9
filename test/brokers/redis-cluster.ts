import { execFile } from 'node:child_process'
import type { BrokerHandle } from './index'
import { ensureBinary } from './install'
import { freePort, LOOPBACK, sleep } from './ports'
import { redisCommand, startRedis } from './redis'

export interface ClusterHandle {
  /** Seed nodes for a cluster client, e.g. `new Cluster(cluster.nodes)`. */
  readonly nodes: { host: string; port: number }[]
  /** One handle per master, e.g. to kill a node. */
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

/** Starts a Redis Cluster of `masters` (default 3, the minimum) masters without replicas on loopback. */
export async function startRedisCluster(options: { masters?: number } = {}): Promise<ClusterHandle> {
  const redisCli = ensureBinary('redis-cli', 'redis-tools')
  const masters = options.masters ?? 3
  // Bus port defaults to port + 10000, which overflows for ports above 55535: pick it explicitly.
  const extraArgs = async () => [
    ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
    ...['--cluster-port', String(await freePort())]
  ]
  const started = await Promise.allSettled(Array.from({ length: masters }, () => startRedis({ extraArgs })))
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
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      CREATE_TIMEOUT_MS
    )

    // redis-cli returns once slots are assigned; gossip may still be settling on some nodes.
    const deadline = Date.now() + CONVERGE_TIMEOUT_MS
    for (;;) {
      const states = await Promise.all(brokers.map(({ port }) => clusterState(port)))
      if (states.every((state) => state === 'ok')) return cluster
      if (Date.now() >= deadline) {
        const detail = brokers.map(({ port }, i) => `${port}: ${states[i]}`).join(', ')
        throw new Error(`Redis cluster not ok within ${CONVERGE_TIMEOUT_MS} ms (${detail})`)
      }
      await sleep(100)
    }
  } catch (err) {
    await stop()
    throw err
  }
}
