/**
 * Real-broker test harness: starts Redis, NATS and RabbitMQ on free loopback ports in temp dirs.
 *
 * Jest's globalSetup starts one shared broker of each kind (see test/global-setup.ts). Tests that kill,
 * pause or restart a broker must start their OWN with startRedis/startNats/startRabbitMq and stop it in
 * afterAll/afterEach, so that they never disturb the shared brokers other test files depend on.
 */
export type BrokerKind = 'redis' | 'nats' | 'rabbitmq'

export interface BrokerHandle {
  readonly kind: BrokerKind
  /** Always '127.0.0.1'. */
  readonly host: string
  readonly port: number
  /** redis://127.0.0.1:P, nats://127.0.0.1:P or amqp://guest:guest@127.0.0.1:P (rediss://, amqps:// with `tls`) */
  readonly url: string
  /** The broker's temp dir (data, config, log). */
  readonly dir: string
  /** Undefined while the broker is not running. */
  readonly pid: number | undefined
  /** Sends `signal` (default SIGKILL) to the broker's process group and waits until it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Starts again on the same port and dir (after kill or stop) and waits until it is ready. */
  restart(): Promise<void>
  /** SIGSTOP: the broker keeps its sockets open but stops answering, like a hung server. */
  pause(): void
  /** SIGCONT after pause(). */
  resume(): void
  /** Graceful stop (SIGTERM, then SIGKILL after a bound) and removal of the temp dir; idempotent. */
  stop(): Promise<void>
}

export { freePort, waitForPort, canConnect, portHolders, LOOPBACK } from './ports'
export { ensureBinary, type EnsureBinaryOptions } from './install'
export { BrokerProcess, BrokerExitedError, launch, processTree, isAlive, type BrokerSpec } from './process'
export { startRedis, redisCommand, type RedisOptions } from './redis'
export { startNats, reloadNats, type NatsOptions } from './nats'
export { startRabbitMq, rabbitmqctl, rabbitmqRows, type RabbitMqOptions } from './rabbitmq'
export { startRedisCluster, type ClusterHandle } from './redis-cluster'
export { startRabbitMqCluster, runningNodes, type RabbitMqClusterHandle } from './rabbitmq-cluster'
export { createTestPki, type BrokerTls, type CertificatePair, type TestPki } from './tls'
