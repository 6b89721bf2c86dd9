import type { RedisClient } from './clients'
import { PAYLOAD_FIELD } from './reader'
import type { RedisDurableSettings } from './retention'

/** Sequences noted as skipped per jump: more than the publishes an instance has in flight at once. */
const MAX_HOLES = 1_000

/**
 * Appends a message unless the producer's record says it was stored already, in one step. The record
 * (a hash) holds the producer's highest stored sequence (`last`) and its entry id (`id`), and a field
 * `h<seq>` for each sequence skipped over on the way there: publishes in flight can reach Redis out of
 * order (on a Cluster failover, a later one may go to the new master before an earlier one is resent),
 * so a sequence below `last` is stored when it is such a hole, and is a resend otherwise. At most
 * `MAX_HOLES` are noted per jump; beyond that a jump is taken as a fresh start.
 * Returns the entry id, the stored id again for a resend of the highest one, nil for an older resend.
 * KEYS: stream, producer record. ARGV: sequence, record TTL (ms), MAXLEN, field, payload.
 */
const SCRIPT = `
local seq = tonumber(ARGV[1])
local last = tonumber(redis.call('HGET', KEYS[2], 'last') or '0')
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

// The engine's ids: a producer (one per running engine) and its send sequence (src/engine/engine.ts).
const MESSAGE_ID = /^([0-9A-Za-z_]+)-(\d{1,15})$/

/**
 * `XADD` that stores a message once even when it is sent again: after a lost connection ioredis
 * resends what was in flight (and the core what failed), though Redis may have stored it before the
 * reply was lost. Broadcast listeners drop such a copy by sender and id, but a consumer group would
 * handle it twice. The producer's record is kept under `{<key>}:producer:<id>` (same hash slot as the
 * stream) for the stream's age limit after its last publish, one small hash per running instance.
 * Sent with `EVAL` every time (Redis keeps the compiled script by its digest): with `EVALSHA`, the
 * fallback after a `NOSCRIPT` (a restarted server, a promoted replica) would send the publishes that hit
 * it after later ones that found the script loaded, out of order. Documented by DragonFly too.
 * A `messageId` in another form falls back to a plain `XADD`.
 */
export function appendOnce(
  client: RedisClient,
  durable: RedisDurableSettings,
  value: string | Buffer,
  messageId: string | undefined
): Promise<string | null> {
  const { stream, maxMessages, maxAgeMs, producerPrefix } = durable
  const parsed = messageId === undefined ? null : MESSAGE_ID.exec(messageId)
  if (parsed === null) return client.xadd(stream, 'MAXLEN', '~', maxMessages, '*', PAYLOAD_FIELD, value)
  const args = [stream, producerPrefix + parsed[1], parsed[2], maxAgeMs, maxMessages, PAYLOAD_FIELD, value]
  return client.eval(SCRIPT, 2, ...args) as Promise<string | null>
}
