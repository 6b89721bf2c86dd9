import { ErrorCode } from 'nats'

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
