import { AckPolicy, DeliverPolicy, nanos, type JetStreamManager } from 'nats'
import { SyncConfigError } from '../../src/errors'
import type { Payload } from '../../src/adapter'
import type { NatsDurableSettings } from './durable-options'
import { bytesOf } from './durable-reader'

/** Most messages one readRange returns, whatever `limit` asks. */
export const MAX_RANGE = 10_000

/**
 * Up to `limit` messages after sequence `after`, oldest first, with one short-lived consumer and one
 * fetch. Messages retention already dropped are simply not there: compare the first position with
 * `after` to see a gap. Only what the stream held when the call began is read, so it never waits for
 * new messages.
 */
export async function readRange(
  jsm: JetStreamManager,
  settings: NatsDurableSettings,
  after: number,
  limit: number
): Promise<{ payload: Payload; position: string }[]> {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new SyncConfigError('limit', `readRange's limit must be a whole number >= 0, got ${limit}`)
  }
  const { stream, subject } = settings
  const { state } = await jsm.streams.info(stream)
  const from = Math.max(after + 1, state.first_seq, 1)
  const count = Math.min(limit, MAX_RANGE, state.last_seq - from + 1)
  if (count <= 0) return []
  const created = await jsm.consumers.add(stream, {
    filter_subject: subject,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: from,
    ack_policy: AckPolicy.None,
    mem_storage: true,
    num_replicas: 1,
    inactive_threshold: nanos(30_000)
  })
  const result: { payload: Payload; position: string }[] = []
  try {
    const consumer = await jsm.jetstream().consumers.get(stream, created.name)
    const batch = await consumer.fetch({ max_messages: count, expires: 5_000 })
    for await (const msg of batch) {
      result.push({ payload: bytesOf(msg), position: String(msg.seq) })
      // The last one the stream held at the start: retention may have trimmed the batch short.
      if (result.length >= count || msg.seq >= state.last_seq) break
    }
  } finally {
    await jsm.consumers.delete(stream, created.name).catch(() => false)
  }
  return result
}
