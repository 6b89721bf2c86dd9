import { createHash } from 'node:crypto'
import type { RedisClient } from './clients'
import { PAYLOAD_FIELD } from './reader'
import type { RedisDurableSettings } from './retention'

/** Sequences noted as skipped per jump: more than the publishes an instance has in flight at once. */
const MAX_HOLES = 1_000

/** The error code the script answers with when the publish sent before this one was not stored. */
const OUT_OF_STEP = 'OUTOFSTEP'

/**
 * Appends a message unless the producer's record says it was stored already, in one step. The record
 * (a hash) holds the producer's highest stored sequence (`last`) and its entry id (`id`), and a field
 * `h<seq>` for each sequence skipped over on the way there: publishes in flight can reach Redis out of
 * order (on a Cluster failover, a later one may go to the new master before an earlier one is resent),
 * so a sequence below `last` is stored when it is such a hole, and is a resend otherwise. At most
 * `MAX_HOLES` are noted per jump; beyond that a jump is taken as a fresh start.
 * `prev` is the sequence the producer sent just before this one (0: none to check). Above `last`, that
 * publish was not stored (a `NOSCRIPT`, any error): this one is refused too, so that nothing overtakes it.
 * Returns the entry id, the stored id again for a resend of the highest one, nil for an older resend.
 * KEYS: stream, producer record. ARGV: sequence, record TTL (ms), MAXLEN, field, payload, prev.
 */
export const APPEND_SCRIPT = `
local seq = tonumber(ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[2], 'last') or '0')
if tonumber(ARGV[6]) > last then
  return redis.error_reply('${OUT_OF_STEP} the publish before ' .. ARGV[1] .. ' was not stored')
end
if seq <= last then
  if redis.call('HDEL', KEYS[2], 'h' .. ARGV[1]) == 0 then
    if seq == last then return redis.call('HGET', KEYS[2], 'id') end
    return false
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', ARGV[4], ARGV[5])
if seq > last then
  if seq - last - 1 <= ${MAX_HOLES} then
    for hole = last + 1, seq - 1 do redis.call('HSET', KEYS[2], 'h' .. hole, 1) end
  end
  redis.call('HSET', KEYS[2], 'last', ARGV[1], 'id', id)
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return id
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

/**
 * `XADD` that stores a message once even when it is sent again: after a lost connection ioredis
 * resends what was in flight (and the core what failed), though Redis may have stored it before the
 * reply was lost. Broadcast listeners drop such a copy by sender and id, but a consumer group would
 * handle it twice. The producer's record is kept under `{<key>}:producer:<id>` (same hash slot as the
 * stream) for the stream's age limit after its last publish, one small hash per running instance.
 * Sent with `EVALSHA` (about 550 bytes less per publish than `EVAL`). Order after a `NOSCRIPT`: each
 * publish names the one sent before it, and the script refuses it when that one was not stored, so
 * what follows a refused publish is refused too; the adapter then loads the script again and the
 * core resends all of them in order ({@link Appender.restart} starts a new chain). Documented by
 * DragonFly too. A `messageId` in another form falls back to a plain `XADD`.
 */
export class Appender {
  private producer: string | undefined
  private prev = '0'
  private prevAt = 0

  constructor(private readonly durable: RedisDurableSettings) {}

  append(client: RedisClient, value: string | Buffer, messageId: string | undefined): Promise<string | null> {
    const { stream, maxMessages, maxAgeMs, producerPrefix } = this.durable
    const parsed = messageId === undefined ? null : MESSAGE_ID.exec(messageId)
    if (parsed === null) return client.xadd(stream, 'MAXLEN', '~', maxMessages, '*', PAYLOAD_FIELD, value)
    const [, producer, seq] = parsed
    const now = Date.now()
    // The record lives `maxAgeMs` after the producer's last publish: an older `prev` may be gone with it.
    const prev = producer === this.producer && now - this.prevAt < maxAgeMs / 2 ? this.prev : '0'
    this.producer = producer
    this.prev = seq
    this.prevAt = now
    const record = producerPrefix + producer
    const args = [stream, record, seq, maxAgeMs, maxMessages, PAYLOAD_FIELD, value, prev]
    return client.evalsha(DIGEST, 2, ...args) as Promise<string | null>
  }

  /** The next publish checks no predecessor: after a refusal, the core resends everything in order. */
  restart(): void {
    this.producer = undefined
    this.prev = '0'
  }
}
