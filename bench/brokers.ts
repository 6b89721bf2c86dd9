/**
 * Starts the broker of a transport with the test harness (loopback, a free port, a temp dir), reads
 * its version from the running server, and stops it afterwards.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { connect } from 'amqplib'
import {
  processTree,
  redisCommand,
  startNats,
  startRabbitMq,
  startRedis,
  type BrokerHandle
} from '../test/brokers'
import type { Transport } from './protocol'

export interface RunningBroker {
  url: string
  /** e.g. `Redis 7.0.15`; `Node IPC` for the cluster transport. */
  version: string
  /** CPU seconds the server has used so far (for cluster: this process, the relay); NaN where unknown. */
  cpuSeconds(): number
  /**
   * Subscribers the server has disconnected so far for falling too far behind (Redis: its log's
   * "closed ASAP for overcoming of output buffer limits"; NATS: "Slow Consumer Detected", past its
   * max_pending); 0 where the broker has no such limit.
   */
  overLimit(): number
  stop(): Promise<void>
}

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100
  } catch {
    return 100
  }
})()

/** User + system CPU seconds of a process and everything it started, from Linux's /proc. */
function treeCpuSeconds(pid: number | undefined): number {
  if (pid === undefined || !fs.existsSync('/proc/self/stat')) return NaN
  let ticks = 0
  for (const member of processTree(pid).keys()) {
    try {
      const stat = fs.readFileSync(`/proc/${member}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // Exited meanwhile.
    }
  }
  return ticks / ticksPerSecond
}

/** The first line a NATS server sends, `INFO {...}`, carries its version. */
function natsVersion(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const socket = net.connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => socket.destroy(new Error('no INFO from nats-server within 2 s')), 2_000)
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      const end = text.indexOf('\r\n')
      if (end < 0) return
      clearTimeout(timer)
      socket.destroy()
      resolve(String((JSON.parse(text.slice(5, end)) as { version?: string }).version))
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })
}

async function redisVersion(port: number): Promise<string> {
  const info = await redisCommand(port, ['INFO', 'server'], 2_000)
  return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown'
}

async function rabbitVersion(url: string): Promise<string> {
  const connection = await connect(url)
  try {
    return String(connection.connection.serverProperties.version)
  } finally {
    await connection.close()
  }
}

/** Lines of the broker's log (in its temp dir) that match `pattern`; 0 once the log is gone. */
function logLines(handle: BrokerHandle, pattern: RegExp): number {
  try {
    const log = fs.readFileSync(path.join(handle.dir, `${handle.kind}.log`), 'utf8')
    return log.split('\n').filter((line) => pattern.test(line)).length
  } catch {
    return 0
  }
}

const wrap = (handle: BrokerHandle, version: string): RunningBroker => ({
  url: handle.url,
  version,
  cpuSeconds: () => treeCpuSeconds(handle.pid),
  overLimit: () =>
    handle.kind === 'redis'
      ? logLines(handle, /output buffer limits/)
      : handle.kind === 'nats'
        ? logLines(handle, /Slow Consumer Detected/)
        : 0,
  stop: () => handle.stop()
})

/** The cluster transport has no server: the relay runs in this process, the primary. */
const ownCpuSeconds = (): number => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

/** Starts the broker `transport` needs; cluster needs none. */
export async function startBroker(transport: Transport): Promise<RunningBroker> {
  switch (transport) {
    case 'redis': {
      const handle = await startRedis()
      return wrap(handle, `Redis ${await redisVersion(handle.port)}`)
    }
    case 'nats': {
      // JetStream on (its store in the broker's temp dir) for the durable line; core NATS is unaffected.
      const handle = await startNats({ jetstream: true })
      return wrap(handle, `nats-server ${await natsVersion(handle.port)}`)
    }
    case 'amqp': {
      const handle = await startRabbitMq()
      return wrap(handle, `RabbitMQ ${await rabbitVersion(handle.url)}`)
    }
    case 'cluster':
      return {
        url: '',
        version: `Node ${process.version} IPC`,
        cpuSeconds: ownCpuSeconds,
        overLimit: () => 0,
        stop: async () => undefined
      }
  }
}
