import type { ChannelModel } from 'amqplib'
import type { DurableHooks, DurableLog, GroupLog, Position, StartPosition, Payload } from '../../src/adapter'
import { SyncConfigError, SyncError, SyncMessageError } from '../../src/errors'
import type { AmqpDurableSettings } from './durable-options'
import { AmqpGroupMember } from './group'
import type { GroupConnections } from './group-connection'
import { checkGroup } from '../group-options'
import { checkPosition, loadPosition, savePosition } from './positions'
import { AmqpSession, type SessionEvents } from './session'
import { declare, offsetOf, probeEnd, readStream, streamArguments } from './stream'

/** Credit of the stream consumer (`basic.qos`); RabbitMQ refuses a stream consumer without one. */
const PREFETCH = 500
/** Acknowledge (multiple) every this many deliveries: acks only return credit on a stream. */
const ACK_EVERY = 50

/** What the adapter lends the durable log. */
export interface DurableBinding {
  settings: AmqpDurableSettings
  /** `host:port` of the address in use. */
  readonly target: string
  /** The live session, if connected. */
  current(): AmqpSession | undefined
  /** Publishes on the live session (to the stream, persistent, confirmed). */
  publish(payload: Payload): Promise<void>
  /** Resolves once a session consumes the stream again (the adapter's `ready`). */
  waitReady(): Promise<void>
  error(error: SyncError): void
  /** The connections the groups' members consume on. */
  groups: GroupConnections
}

/** The durable log plus what the adapter's setup calls on each new connection. */
export interface AmqpDurable {
  /** The adapter's `DurableLog` and `GroupLog` methods. */
  log: DurableLog & GroupLog
  /** Opens a session publishing to the stream, declares it, and re-attaches the subscription. */
  open(model: ChannelModel, events: SessionEvents): Promise<AmqpSession>
  /** Whether `subscribeDurable` was called (then `ready` waits for the consumer). */
  subscribed(): boolean
  /** Leaves every group joined through this adapter and closes the group connections. */
  close(): Promise<void>
}

interface Subscription {
  hooks: DurableHooks
  /** The last offset handed to `hooks.message` (or the end found for `tail`); undefined: from the first. */
  last: number | undefined
}

/**
 * Durable delivery over a RabbitMQ stream queue `<key>.stream`. The subscription attaches at the last
 * offset it handed over (not the one after it) and skips that one: if RabbitMQ still has it, it comes
 * first; if it comes later than that, retention dropped it, and everything up to the first offset
 * delivered is a gap. Attaching one further could not tell a trimmed log from an offset RabbitMQ uses
 * for its own bookkeeping at the start of each segment.
 */
export function createDurableLog(binding: DurableBinding): AmqpDurable {
  const { settings } = binding
  const { stream } = settings
  let subscription: Subscription | undefined
  const members = new Set<AmqpGroupMember>()
  const model = () => binding.current()?.model

  const deliver = (sub: Subscription, offset: number, content: Buffer) => {
    if (sub.last !== undefined && offset <= sub.last) return
    sub.last = offset
    try {
      sub.hooks.message(content, String(offset))
    } catch (cause) {
      binding.error(new SyncError('SYNC_DELIVERY', 'A durable message handler threw', { cause }))
    }
  }

  const attach = async (session: AmqpSession, sub: Subscription): Promise<void> => {
    const { channel } = session
    const from = sub.last
    // Only when resuming after a known offset can a later first delivery mean a gap.
    let checked = from === undefined
    let unacked = 0
    await channel.prefetch(PREFETCH)
    await channel.consume(
      stream,
      (message) => {
        if (message === null) return session.fail(new Error('RabbitMQ cancelled the stream consumer'))
        if (++unacked >= ACK_EVERY) {
          channel.ack(message, true)
          unacked = 0
        }
        const offset = offsetOf(message)
        if (offset === undefined) {
          binding.error(new SyncMessageError('shape', `A message from "${stream}" had no x-stream-offset`))
          return
        }
        if (!checked && from !== undefined && offset >= from) {
          checked = true
          if (offset > from) {
            const gap = { after: String(from), firstAvailable: String(offset), missing: offset - from - 1 }
            sub.hooks.gap(gap)
          }
        }
        deliver(sub, offset, message.content)
      },
      { arguments: { 'x-stream-offset': from ?? 'first' } }
    )
    session.consuming = true
  }

  const lastOffset = () => probeEnd(model(), stream, binding.target, 'last')

  const start = async (from: StartPosition): Promise<number | undefined> => {
    if (from.kind === 'head') return undefined
    if (from.kind === 'after') return checkPosition('start.position', from.position)
    if (from.kind === 'tail') return lastOffset()
    throw new SyncConfigError('start', `Unknown start position ${JSON.stringify(from)}`)
  }

  const log: DurableLog & GroupLog = {
    async joinGroup(group, _member, options, onMessage) {
      checkGroup(group, _member, options)
      // A connection of its own, whose heartbeat makes RabbitMQ take back what a silent member held
      // after about claimAfterMs (see group-connection.ts).
      const connection = binding.groups.for(options.claimAfterMs)
      const current = () => connection.current()
      const report = (error: SyncError) => binding.error(error)
      const member = new AmqpGroupMember(
        settings,
        binding.target,
        group,
        { ...options },
        onMessage,
        current,
        report
      )
      connection.members.add(member)
      members.add(member)
      const leave = async () => {
        members.delete(member)
        connection.members.delete(member)
        await member.leave()
        await binding.groups.release(connection)
      }
      try {
        await member.attach(await connection.ready())
      } catch (cause) {
        await leave()
        throw cause
      }
      return { leave }
    },
    async publishDurable(payload) {
      await binding.publish(payload)
      // AMQP 0-9-1 gives a stream offset only to consumers.
      return undefined
    },
    async subscribeDurable(from, hooks) {
      if (subscription)
        throw new SyncConfigError('durable', 'subscribeDurable() was already called on this adapter')
      const sub: Subscription = { hooks, last: await start(from) }
      subscription = sub
      const session = binding.current()
      if (session && !session.consuming) {
        try {
          await attach(session, sub)
          if (session === binding.current()) return
        } catch {
          // The session died under us; the next one attaches in open().
        }
      }
      if (!binding.current()?.consuming) await binding.waitReady()
    },
    async readRange(after, limit, inclusive) {
      const from = checkPosition('after', after) - (inclusive === true ? 1 : 0)
      if (!Number.isSafeInteger(limit) || limit < 0) {
        throw new SyncConfigError('limit', `limit must be an integer >= 0, got ${String(limit)}`)
      }
      const end = limit === 0 ? undefined : await lastOffset()
      if (end === undefined || end <= from) return []
      const read = await readStream(model(), stream, binding.target, { after: from, end, limit })
      return read.map(({ content, offset }) => ({ payload: content, position: String(offset) }))
    },
    async lastPosition(): Promise<Position | undefined> {
      const last = await lastOffset()
      return last === undefined ? undefined : String(last)
    },
    // The first message RabbitMQ still delivers: whole segments go, oldest first, once over retention.
    async firstPosition(): Promise<Position | undefined> {
      const first = await probeEnd(model(), stream, binding.target, 'first')
      return first === undefined ? undefined : String(first)
    },
    savePosition: (name, position) => savePosition(model(), settings, binding.target, name, position),
    loadPosition: (name) => loadPosition(model(), settings, binding.target, name),
    comparePositions(a, b) {
      return Math.sign(checkPosition('a', a) - checkPosition('b', b))
    }
  }

  return {
    log,
    subscribed: () => subscription !== undefined,
    async open(connection, events) {
      const { exchange } = settings
      const session = await AmqpSession.create(connection, { exchange, routingKey: '' }, events)
      // Durable publishes go through a fanout exchange, so that the stream and every group's queue get them.
      await session.channel.assertExchange(exchange, 'fanout', { durable: true })
      await declare(session.channel, stream, streamArguments(settings), binding.target)
      await session.channel.bindQueue(stream, exchange, '')
      if (subscription) await attach(session, subscription)
      return session
    },
    async close() {
      await Promise.all([...members].map((member) => member.leave()))
      members.clear()
      await binding.groups.close()
    }
  }
}
