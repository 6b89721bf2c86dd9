import { parseArgs } from 'node:util'

/** What `npm run demo -- [options]` accepts. */
export interface DemoOptions {
  /** How many instances to start. */
  instances: number
  /** Port of the dashboard; the instances take the next ones. 0 lets each pick a free port. */
  port: number
  /** Interface to listen on. */
  host: string
  /** Where instances sync through: `cluster://` (no broker), or `redis://…`, `amqp://…`, `nats://…`. */
  uri: string
  /** How many events the scripted clients create before serving on. 0 skips the scripted run. */
  events: number
  /** Pause between two scripted events, in ms. */
  intervalMs: number
  /** Exit after the scripted run instead of serving the dashboard until Ctrl-C. */
  once: boolean
  /** Durable delivery and client recovery on, and the dashboard's client page (needs a broker). */
  recovery: boolean
}

export const USAGE = `Usage: npm run demo -- [options]

Starts several instances of a small Feathers chat (REST + websockets), synced with feathers-fanout,
drives them with scripted websocket clients for a few seconds, prints what every instance received,
then serves a live dashboard of the instances (and each instance's chat page) until Ctrl-C.

Options:
  --instances <n>    instances to start (default 3)
  --port <port>      port of the dashboard, the instances take the next ones
                     (default 3030; 0 = any free ports)
  --host <host>      interface to listen on (default 127.0.0.1)
  --uri <uri>        sync through a broker instead of the cluster primary:
                     redis://127.0.0.1:6379, amqp://guest:guest@127.0.0.1:5672, nats://127.0.0.1:4222
                     (default cluster://, which needs no broker). For redis://127.0.0.1:<port>
                     with nothing listening there, the demo starts redis-server itself.
  --events <n>       events the scripted clients create (default 30; 0 skips the scripted run)
  --interval <ms>    pause between scripted events (default 100)
  --once             exit after the scripted run (exit code 1 if an event was lost or duplicated)
  --recovery         durable delivery and client recovery, with a client page on the dashboard
                     that goes offline and catches up (needs --uri redis://, nats:// or amqp://)
  --help             show this text
`

function integer(name: string, value: string, min: number, max: number): number {
  const number = Number(value)
  if (!Number.isInteger(number) || number < min || number > max) {
    throw new Error(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`)
  }
  return number
}

/** Parses the command line; throws an Error whose message says which option is wrong. */
export function parseOptions(argv: string[]): DemoOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      instances: { type: 'string', default: '3' },
      port: { type: 'string', default: '3030' },
      host: { type: 'string', default: '127.0.0.1' },
      uri: { type: 'string', default: 'cluster://' },
      events: { type: 'string', default: '30' },
      interval: { type: 'string', default: '100' },
      once: { type: 'boolean', default: false },
      recovery: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    },
    strict: true
  })
  if (values.help) return 'help'
  const instances = integer('instances', values.instances, 1, 32)
  const port = integer('port', values.port, 0, 65_535)
  if (port !== 0 && port + instances > 65_535)
    throw new Error(`--port ${port} leaves no room for ${instances} instances`)
  if (!/^[a-z][a-z0-9+.-]*:/i.test(values.uri))
    throw new Error(`--uri must be a URI such as redis://127.0.0.1:6379, got "${values.uri}"`)
  if (values.recovery && values.uri.startsWith('cluster:'))
    throw new Error('--recovery needs a broker with a log: --uri redis://…, nats://… or amqp://…')
  return {
    instances,
    port,
    host: values.host,
    uri: values.uri,
    events: integer('events', values.events, 0, 10_000),
    intervalMs: integer('interval', values.interval, 0, 60_000),
    once: values.once,
    recovery: values.recovery
  }
}

/** The URI without credentials, for printing. */
export const redact = (uri: string): string => uri.replace(/\/\/[^@/]*@/, '//***@')
