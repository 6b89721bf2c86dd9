import { ErrorCode, type NatsConnection } from 'nats'
import type { Payload } from '../../src/adapter'
import { SyncOversizeError } from '../../src/errors'

// The client's errors often carry only their code as message ("CONNECTION_REFUSED", "tls").
const READABLE: Partial<Record<string, string>> = {
  [ErrorCode.ConnectionRefused]: 'connection refused',
  [ErrorCode.AuthorizationViolation]:
    'authorization violation: the server refused the user, password or token',
  [ErrorCode.AuthenticationExpired]: 'the credentials have expired',
  [ErrorCode.PermissionsViolation]: 'permissions violation',
  [ErrorCode.Timeout]: 'timed out',
  [ErrorCode.ConnectionTimeout]: 'timed out',
  [ErrorCode.Disconnect]: 'disconnected',
  [ErrorCode.ConnectionClosed]: 'connection closed'
}

/** A readable text for a `nats` error code, e.g. from a status event. */
export const describeCode = (code: string): string => READABLE[code] ?? code

/** A readable reason for a `nats` client error, for SyncConnectionError messages. Never credentials. */
export function natsReason(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause)
  const code = (cause as Error & { code?: unknown }).code
  if (code === ErrorCode.ServerOptionNotAvailable && cause.message === 'tls') {
    return 'the server offers no TLS, which a tls:// uri or the tls option requires'
  }
  if (code === ErrorCode.PermissionsViolation) return cause.message
  return (typeof code === 'string' && READABLE[code]) || cause.message
}

/**
 * Why a NATS server may close a connection that was up besides a restart: a client more than its
 * `max_pending` behind (64 MB by default) is cut off as a slow consumer, without a word to the client.
 */
export const SERVER_CLOSED =
  'the server closed it or the network did; a NATS server also cuts off a client that falls behind by ' +
  'more than its max_pending (64 MB by default) as a slow consumer, and what it had queued for this ' +
  'instance is lost (counted as dropped.missed when the next message arrives)'

/**
 * The payload as bytes, or a SyncOversizeError if the server's max_payload cannot take it together with
 * `headerBytes` of headers (the server counts both against max_payload).
 */
export function checkSize(nc: NatsConnection, payload: Payload, headerBytes = 0): Uint8Array {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload
  const limit = nc.info?.max_payload
  const size = bytes.byteLength + headerBytes
  // The client would throw a bare MAX_PAYLOAD_EXCEEDED; this names the size, the limit and the server.
  if (limit !== undefined && size > limit) {
    const what = headerBytes > 0 ? 'A message with its headers' : 'A message'
    throw new SyncOversizeError(size, limit, `${what} to NATS at ${nc.getServer()} (its max_payload)`)
  }
  return bytes
}
