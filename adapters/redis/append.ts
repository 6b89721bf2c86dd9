import { createHash } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'
import type { RedisClient } from './clients'
import { PAYLOAD_FIELD } from './entries'
import type { RedisDurableSettings } from './retention'

/** Sequences noted as skipped per jump: more than the publishes an instance has in flight at once. */
const MAX_HOLES = 1_000
/** Publishes of one tick sent in one script call, at most, and their payload bytes at most. */
const MAX_BATCH = 256
const MAX_BATCH_BYTES = 1024 * 1024

/** The error code the script answers with when the publish sent before a batch was not stored. */
const OUT_OF_STEP = 'OUTOFSTEP'

/**
 * Appends a producer's messages, each unless its record says it was stored already, in one step. The
 * record (a hash) holds the producer's highest stored sequence (`last`) and its entry id (`id`), and a
 * field `h<seq>` for each sequence skipped over on the way there: publishes in flight can reach Redis
 * out of order (on a Cluster failover, a later one may go to the new master before an earlier one is
 * resent), so a sequence below `last` is stored when it is such a hole, and is a resend otherwise. At
 * most `MAX_HOLES` are noted per jump; beyond that a jump is taken as a fresh start.
 * `prev` is the sequence the producer sent just before the batch (0: none to check). Above `last`, that
 * publish was not stored (a `NOSCRIPT`, any error): the batch is refused too, so that nothing overtakes it.
 * Returns, per message, its entry id, the stored id again for a resend of the highest one, nil for an
 * older resend. KEYS: stream, producer record. ARGV: record TTL (ms), MAXLEN, field, prev, then a
 * sequence and a payload per message.
 */
export const APPEND_SCRIPT = `
local last = redis.call('HGET', KEYS[2], 'last') or '0'
if tonumber(ARGV[4]) > tonumber(last) then
  return redis.error_reply('${OUT_OF_STEP} the publish before ' .. ARGV[5] .. ' was not stored')
end
local top, topArg, topId = tonumber(last), nil, nil
local ids = {}
for i = 5, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  local id = false
  if seq > top then
    id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[i + 1])
    if seq - top - 1 <= ${MAX_HOLES} then
      for hole = top + 1, seq - 1 do redis.call('HSET', KEYS[2], 'h' .. hole, 1) end
    end
    top, topArg, topId = seq, ARGV[i], id
  elseif redis.call('HDEL', KEYS[2], 'h' .. ARGV[i]) == 1 then
    id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[i + 1])
  elseif seq == top then
    id = topId or redis.call('HGET', KEYS[2], 'id')
  end
  ids[#ids + 1] = id
end
if topId then redis.call('HSET', KEYS[2], 'last', topArg, 'id', topId) end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return ids
`
const DIGEST = createHash('sha1').update(APPEND_SCRIPT).digest('hex')

// The engine's ids: a producer (one per running engine) and its send sequence (src/engine/engine.ts).
const MESSAGE_ID = /^([0-9A-Za-z_]+)-(\d{1,15})$/

/**
 * Whether a publish failed because the script was not run: Redis no longer has it (`NOSCRIPT`: a
 * restarted server, a promoted replica, `SCRIPT FLUSH`), or a publish sent before it was not stored.
 */
export const scriptMissed = (error: unknown): boolean =>
  error instanceof Error && (error.message.startsWith('NOSCRIPT') || error.message.startsWith(OUT_OF_STEP))

/** `SCRIPT LOAD` on Redis, or on every master of a Cluster (a promoted replica may lack it). */
export async function loadAppendScript(client: RedisClient): Promise<void> {
  const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis]
  await Promise.all(nodes.map((node) => node.script('LOAD', APPEND_SCRIPT)))
}

interface Pending {
  seq: string
  value: string | Buffer
  resolve: (id: string | null) => void
  reject: (error: unknown) => void
}

/**
 * `XADD` that stores a message once even when it is sent again: after a lost connection ioredis
 * resends what was in flight (and the core what failed), though Redis may have stored it before the
 * reply was lost. Broadcast listeners drop such a copy by sender and id, but a consumer group would
 * handle it twice. The producer's record is kept under `{<key>}:producer:<id>` (same hash slot as the
 * stream) for the stream's age limit after its last publish, one small hash per running instance.
 * The publishes of one tick go in one `EVALSHA` (one script run instead of one per message; each is
 * still its own entry with its own position). Order after a `NOSCRIPT`: each call names the publish
 * sent before it, and the script refuses it when that one was not stored, so what follows a refused
 * call is refused too; the adapter then loads the script again and the core resends all of them in
 * order ({@link Appender.restart} starts a new chain). A `messageId` in another form is a plain `XADD`.
 */
export class Appender {
  private producer: string | undefined
  private prev = '0'
  private prevAt = 0
  private batch: Pending[] = []
  private batchBytes = 0
  private client: RedisClient | undefined
  private scheduled = false

  constructor(private readonly durable: RedisDurableSettings) {}

  append(client: RedisClient, value: string | Buffer, messageId: string | undefined): Promise<string | null> {
    const { stream, maxMessages } = this.durable
    const parsed = messageId === undefined ? null : MESSAGE_ID.exec(messageId)
    if (parsed === null) return client.xadd(stream, 'MAXLEN', '~', maxMessages, '*', PAYLOAD_FIELD, value)
    const [, producer, seq] = parsed
    if (producer !== this.producer || client !== this.client) {
      this.flush()
      this.prev = '0'
    }
    this.producer = producer
    this.client = client
    return new Promise((resolve, reject) => {
      this.batch.push({ seq, value, resolve, reject })
      this.batchBytes += Buffer.byteLength(value)
      if (this.batch.length >= MAX_BATCH || this.batchBytes >= MAX_BATCH_BYTES) this.flush()
      else if (!this.scheduled) {
        this.scheduled = true
        // Like ioredis' auto-pipelining: what is published in this tick goes together.
        process.nextTick(this.flush)
      }
    })
  }

  /** The next call checks no predecessor: after a refusal, the core resends everything in order. */
  restart(): void {
    this.flush()
    this.producer = undefined
    this.prev = '0'
  }

  private readonly flush = (): void => {
    this.scheduled = false
    const { batch, client, producer } = this
    if (batch.length === 0 || client === undefined || producer === undefined) return
    this.batch = []
    this.batchBytes = 0
    const { stream, maxMessages, maxAgeMs, producerPrefix } = this.durable
    const now = Date.now()
    // The record lives `maxAgeMs` after the producer's last publish: an older `prev` may be gone with it.
    const prev = now - this.prevAt < maxAgeMs / 2 ? this.prev : '0'
    this.prev = batch[batch.length - 1].seq
    this.prevAt = now
    const args: (string | number | Buffer)[] = [maxAgeMs, maxMessages, PAYLOAD_FIELD, prev]
    for (const { seq, value } of batch) args.push(seq, value)
    const sent = client.evalsha(DIGEST, 2, stream, producerPrefix + producer, ...args) as Promise<
      (string | null)[]
    >
    sent.then(
      (ids) => batch.forEach(({ resolve }, i) => resolve(ids[i] ?? null)),
      (error: unknown) => batch.forEach(({ reject }) => reject(error))
    )
  }
}
