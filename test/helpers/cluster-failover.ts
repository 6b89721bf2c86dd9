/**
 * Fleet helpers for the cluster failover tests (Redis Cluster, RabbitMQ cluster): buses in durable mode
 * whose publishes are recorded as the adapter confirms them, a steady publisher per bus, and (Redis)
 * where the stream lives.
 */
import type { Adapter, DurableLog, Payload, Position } from '../../src/adapter'
import { createBus } from '../../src/bus'
import type { Bus } from '../../src/engine/bus'
import type { SyncGap } from '../../src/engine/durable'
import type { SyncError } from '../../src/errors'
import { redisCommand } from '../brokers'

/** One bus of the fleet and everything it reported. */
export interface Member {
  name: string
  bus: Bus
  statuses: string[]
  /** When the bus last became `ready` (ms since the epoch). */
  readyAt: number
  /** Statuses and errors, each with the ms since the bus opened: for failure messages. */
  timeline: string[]
  errors: SyncError[]
  gaps: SyncGap[]
  /** `n` of each event received, per sender name, in arrival order. */
  received: Map<string, number[]>
  /** Events whose `XADD` returned: `n` and the entry id Redis gave it. */
  confirmed: { n: number; id: Position | undefined }[]
  /** How many events this member published (numbers 0 … published - 1). */
  published: number
  /** Name, status, counters: for failure messages. */
  describe(): string
}

const decodeN = (payload: Payload): number => {
  const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString()
  return (JSON.parse(text) as { data: { n: number } }).data.n
}

/** A bus in durable mode on `adapter` (made with `durable`); the adapter records every confirmed publish. */
export async function openMember(name: string, adapter: Adapter & DurableLog, key: string): Promise<Member> {
  const opened = Date.now()
  const note = (what: string) => member.timeline.push(`+${Date.now() - opened} ms ${what}`)
  const member: Member = {
    name,
    bus: undefined as unknown as Bus,
    statuses: [],
    readyAt: 0,
    timeline: [],
    errors: [],
    gaps: [],
    received: new Map(),
    confirmed: [],
    published: 0,
    describe: () => {
      const stats = member.bus.stats()
      const got = [...member.received].map(([from, list]) => `${list.length} from ${from}`).join(', ')
      return (
        `${name}: status ${member.bus.status} (${member.statuses.join('>')}), received ${got}, ` +
        `${member.confirmed.length}/${member.published} confirmed, ${member.gaps.length} gaps ` +
        `(${member.gaps.map((gap) => `${gap.reason} after ${gap.after}`).join(', ') || 'none'}), ` +
        `publishErrors ${stats.publishErrors}, outbox ${stats.outbox.messages}, ` +
        `duplicates ${stats.dropped.duplicate}, ${member.errors.length} errors (last: ${member.errors.at(-1)?.message ?? 'none'}), ` +
        `timeline [${member.timeline.slice(-6).join('; ')}]`
      )
    }
  }
  const publishDurable = adapter.publishDurable.bind(adapter)
  adapter.publishDurable = async (payload: Payload, messageId?: string) => {
    const id = await publishDurable(payload, messageId)
    member.confirmed.push({ n: decodeN(payload), id })
    return id
  }
  member.bus = createBus(
    { adapter, key, durable: true, errorReportIntervalMs: 0 },
    {
      status: ({ status }) => {
        note(status)
        member.statuses.push(status)
        if (status === 'ready') member.readyAt = Date.now()
      },
      error: (error) => {
        note(`error: ${error.message}`)
        member.errors.push(error)
      },
      gap: (gap) => member.gaps.push(gap)
    }
  )
  member.bus.subscribe(({ envelope, own }) => {
    if (own) return
    const { from, n } = envelope.data as { from: string; n: number }
    const list = member.received.get(from) ?? []
    member.received.set(from, list)
    list.push(n)
  })
  await member.bus.ready
  return member
}

/**
 * Publishes `{ from, n }` every `everyMs` until stopped (at most `limit`). The bus queues what it cannot
 * send and resends what failed on a lost connection; nothing here retries.
 */
export function publishSteadily(member: Member, everyMs: number, limit = 20_000): () => void {
  const timer = setInterval(() => {
    if (member.published >= limit) return
    member.bus.publish({
      path: 'todos',
      event: 'created',
      data: { from: member.name, n: member.published++ },
      context: null
    })
  }, everyMs)
  return () => clearInterval(timer)
}

/** One line of `CLUSTER NODES`. */
export interface ClusterNode {
  id: string
  port: number
  flags: string[]
  master: string
  slots: [number, number][]
}

export async function clusterNodes(port: number): Promise<ClusterNode[]> {
  const text = await redisCommand(port, ['CLUSTER', 'NODES'], 1000)
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.trim().split(' ')
      return {
        id,
        port: Number(/:(\d+)@/.exec(address)?.[1]),
        flags: flags.split(','),
        master,
        slots: slots
          .filter((range) => !range.startsWith('['))
          .map((range) => range.split('-').map(Number) as [number, number])
          .map(([from, to]) => [from, to ?? from] as [number, number])
      }
    })
}

/** The master serving `key`'s slot and its replica, as node `port` sees the cluster. */
export async function ownerOf(
  port: number,
  key: string
): Promise<{ master: ClusterNode; replica: ClusterNode }> {
  const slot = Number(await redisCommand(port, ['CLUSTER', 'KEYSLOT', key], 1000))
  const nodes = await clusterNodes(port)
  const master = nodes.find(
    (node) => node.flags.includes('master') && node.slots.some(([from, to]) => from <= slot && slot <= to)
  )
  const replica = nodes.find((node) => master !== undefined && node.master === master.id)
  if (!master || !replica) throw new Error(`no master with a replica for slot ${slot} of ${key}`)
  return { master, replica }
}
