import { SyncConfigError } from '../../src/errors'
import { redact } from '../../src/adapter'

/**
 * The broker addresses in `uri`. Several nodes of one RabbitMQ cluster go in one string, separated by
 * commas: `amqp://u:p@rabbit-1:5672,amqp://u:p@rabbit-2:5672`. A comma starts a new address only where
 * `amqp://` or `amqps://` follows it, so a comma inside a password or a vhost stays where it is. One
 * string (rather than an array) keeps `uri` what it is for every adapter: the scheme still picks the
 * adapter, `sync(uri)` and an environment variable can carry a whole cluster.
 */
export function splitAddresses(uri: string): string[] {
  return uri.split(/\s*,\s*(?=amqps?:\/\/)/i)
}

/** One address of `uri`, validated; `index` and `count` name it in messages when there are several. */
export function parseAddress(uri: string, index: number, count: number): URL {
  const option = count === 1 ? 'Option "uri"' : `Option "uri" (address ${index + 1} of ${count})`
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    throw new SyncConfigError('uri', `${option} is not a valid URL: "${redact(uri)}"`)
  }
  if ((url.protocol !== 'amqp:' && url.protocol !== 'amqps:') || url.hostname === '') {
    throw new SyncConfigError(
      'uri',
      `${option} must look like amqp://host:port or amqps://host:port, got "${redact(uri)}"`
    )
  }
  return url
}

/** Every address of `uri`, validated, in the order given (the order connections try them in). */
export function parseAddresses(uri: string | undefined): URL[] {
  if (uri === undefined) {
    throw new SyncConfigError(
      'uri',
      'Option "uri" is required for AMQP, e.g. amqp://guest:guest@localhost:5672'
    )
  }
  const addresses = splitAddresses(uri)
  return addresses.map((address, index) => parseAddress(address, index, addresses.length))
}

/** `host:port` of an address, for messages and the adapter's `target`. */
export function targetOf(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === 'amqps:' ? 5671 : 5672)}`
}
