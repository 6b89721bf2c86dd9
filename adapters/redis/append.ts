import { createHash } from 'node:crypto'
import type { RedisClient } from './clients'
import { PAYLOAD_FIELD } from './reader'
import type { RedisDurableSettings } from './retention'

/**
 * Appends and remembers, per producer, the last sequence stored and its entry id, in one step:
 * a message whose sequence is not above the producer's last is a resend of one already stored.
 * Returns the entry id, the stored id again for a resend of the last one, nil for an older one.
 * KEYS: stream, producer key. ARGV: sequence, producer key TTL (ms), MAXLEN, field, payload.
 */
const SCRIPT = `
local seq = tonumber(ARGV[1])
local last = redis.call('GET', KEYS[2])
if last then
  local space = string.find(last, ' ', 1, true)
  local lastSeq = tonumber(string.sub(last, 1, space - 1))
  if seq <= lastSeq then
    if seq == lastSeq then return string.sub(last, space + 1) end
    return false
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', ARGV[4], ARGV[5])
redis.call('SET', KEYS[2], ARGV[1] .. ' ' .. id, 'PX', ARGV[2])
return id
`
const SHA = createHash('sha1').update(SCRIPT).digest('hex')

// The engine's ids: a producer (one per running engine) and its send sequence (src/engine/engine.ts).
const MESSAGE_ID = /^([0-9A-Za-z_]+)-(\d{1,15})$/

/**
 * `XADD` that stores a message once even when it is sent again: after a lost connection ioredis
 * resends what was in flight (and the core what failed), though Redis may have stored it before the
 * reply was lost. Broadcast listeners drop such a copy by sender and id, but a consumer group would
 * handle it twice. A producer's messages reach Redis in sequence order (one connection, resends first,
 * in order), so its last stored sequence is enough; it is kept under `{<key>}:producer:<id>` (same hash
 * slot as the stream) for the stream's age limit, one small key per running instance.
 * Uses `EVALSHA` (`EVAL` once per server after a restart or `SCRIPT FLUSH`), documented by DragonFly too.
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
  return (client.evalsha(SHA, 2, ...args) as Promise<string | null>).catch((error: unknown) => {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
    return client.eval(SCRIPT, 2, ...args) as Promise<string | null>
  })
}
