import { randomBytes } from 'node:crypto'
import type { BrokerHandle } from './index'
import { sleep } from './ports'
import { nodeName, rabbitmqctl, startRabbitMq } from './rabbitmq'

/** A RabbitMQ cluster of private nodes on loopback, from startRabbitMqCluster. */
export interface RabbitMqClusterHandle {
  /** One handle per node, the first being the one the others joined. Each can be killed and restarted. */
  readonly brokers: BrokerHandle[]
  /** Every node's URL in one `uri` (comma-separated), starting with node `first`. */
  uri(first?: number): string
  /** The Erlang node name of `broker` (`fanout<port>@localhost`), as rabbitmqctl lists it. */
  nodeName(broker: BrokerHandle): string
  /** Waits (bounded) until node `by` sees every node running in the cluster, e.g. after a restart. */
  waitFormed(by?: BrokerHandle, timeoutMs?: number): Promise<void>
  /** How long each step of forming the cluster took (`nodes started +9000 ms`, …). */
  readonly steps: readonly string[]
  /** Stops every node and removes their temp dirs; idempotent. */
  stop(): Promise<void>
}

const CONVERGE_TIMEOUT_MS = 30_000
// rabbitmqctl boots an Erlang VM each time (about a second of CPU): asked at most this often.
const POLL_MS = 200

/** The nodes `broker` sees running in its cluster (rabbitmqctl cluster_status). */
export async function runningNodes(broker: BrokerHandle): Promise<string[]> {
  const status = JSON.parse(await rabbitmqctl(broker, 'cluster_status', '--formatter', 'json')) as {
    running_nodes?: string[]
  }
  return status.running_nodes ?? []
}

/**
 * Starts `size` RabbitMQ nodes (default 3) at once, each with its own temp dir, ports and node name and
 * the same Erlang cookie, then joins every other node to the first one (`stop_app`, `join_cluster` one
 * node after the other, `start_app`), each step returning once done. A node killed with `kill('SIGKILL')` and started again with `restart()` comes back with its
 * data and name, as a member of the cluster. Everything started is stopped again when a step fails.
 */
export async function startRabbitMqCluster(size = 3): Promise<RabbitMqClusterHandle> {
  const began = Date.now()
  const steps: string[] = []
  const step = (what: string) => steps.push(`${what} +${Date.now() - began} ms`)
  const cookie = randomBytes(16).toString('hex')
  const started = await Promise.allSettled(Array.from({ length: size }, () => startRabbitMq({ cookie })))
  const brokers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  const cluster: RabbitMqClusterHandle = {
    brokers,
    steps,
    uri: (first = 0) =>
      [...brokers.slice(first), ...brokers.slice(0, first)].map((broker) => broker.url).join(','),
    nodeName: (broker) => nodeName(broker.port),
    waitFormed: async (by = brokers[0], timeoutMs = CONVERGE_TIMEOUT_MS) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const running = await runningNodes(by).catch((error: Error) => [error.message])
        if (brokers.every((broker) => running.includes(nodeName(broker.port)))) return
        if (Date.now() >= deadline) {
          throw new Error(
            `RabbitMQ cluster not formed within ${timeoutMs} ms: ${nodeName(by.port)} sees ` +
              `[${running.join(', ')}] running`
          )
        }
        await sleep(POLL_MS)
      }
    },
    stop: async () => {
      await Promise.all(brokers.map((broker) => broker.stop()))
    }
  }
  try {
    const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected')
    if (failed) throw failed.reason
    step('nodes started')
    const [seed, ...others] = brokers
    // Stopping and starting the apps in parallel saves a node boot's worth of time; the joins, which
    // change the cluster's membership, go one at a time.
    await Promise.all(others.map((broker) => rabbitmqctl(broker, 'stop_app')))
    step('apps stopped')
    for (const broker of others) await rabbitmqctl(broker, 'join_cluster', nodeName(seed.port))
    step('joined')
    // start_app returns once the node runs as a member of the seed's cluster.
    await Promise.all(others.map((broker) => rabbitmqctl(broker, 'start_app')))
    step('apps started')
    return cluster
  } catch (error) {
    await cluster.stop()
    throw error
  }
}
