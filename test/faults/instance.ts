/**
 * One app instance of the fault suite, in its own process (a child process, or a `cluster` worker for
 * the cluster adapter), driven over IPC by test/faults/fleet.ts. It creates a steady stream of events on
 * its `feed` service and keeps the books (see Ledger). The adapter is the real one, wrapped only to note
 * when each message is handed to the broker client: that is what tells a message lost in flight at a
 * broker's death from one that never left the outbox.
 */
import { feathers } from '@feathersjs/feathers'
import fs from 'node:fs'
import { frame, toWire } from '../../adapters/cluster/protocol'
import type { DurableLog } from '../../src/adapter'
import {
  sync,
  type Adapter,
  type SyncError,
  type SyncGap,
  type SyncOptions,
  type SyncStatusEvent
} from '../../src/index'
import { parseOptions, schemeOf } from '../../src/engine/options'
import { factoryFor } from '../../src/registry'
import type { Payload } from '../../src/protocol/serializers'
import { isFrame, unpackFrame } from '../../src/protocol/batch'
import { openSockets } from '../helpers/sockets'
import { Ledger } from './ledger'
import {
  CONFIG_ENV,
  type Command,
  type InstanceConfig,
  type ParentMessage,
  type Probe,
  type Tick
} from './protocol'

const config = JSON.parse(process.env[CONFIG_ENV] ?? '{}') as InstanceConfig
const ledger = new Ledger(config.index, config.journal ? fs.openSync(config.journal, 'a') : undefined)
const gaps: SyncGap[] = []
const problems: string[] = []
const errors: Record<string, number> = {}
process.on('uncaughtException', (error) => problems.push(`uncaught: ${error.stack ?? error.message}`))
process.on('unhandledRejection', (reason) => problems.push(`unhandled rejection: ${String(reason)}`))

const send = (message: object): void => void process.send?.(message)

/** The adapter `uri` picks, with each hand-off and its outcome written in the ledger. */
function tapped(options: SyncOptions): Adapter {
  const resolved = parseOptions(options)
  const real = factoryFor(schemeOf(resolved.uri ?? ''))(resolved)
  const settle = (numbers: number[], ok: boolean) => numbers.forEach((n) => ledger.settle(n, ok))
  // Notes the hand-off of one of this instance's messages (each event of a batched frame), then its outcome.
  const tap = <T>(payload: Payload, hand: () => T): T => {
    const events = isFrame(payload) ? (unpackFrame(payload) as Payload[]) : [payload]
    const n = events.map((event) => ledger.ownNumber(event)).filter((own) => own !== undefined)
    n.forEach((own) => ledger.handOff(own))
    try {
      const result = hand()
      if (!(result instanceof Promise)) {
        settle(n, true)
        return result
      }
      return result.then(
        (value: unknown) => {
          settle(n, true)
          return value
        },
        (error: unknown) => {
          settle(n, false)
          throw error
        }
      ) as T
    } catch (error) {
      settle(n, false)
      throw error
    }
  }
  const adapter: Adapter = {
    type: real.type,
    capabilities: real.capabilities,
    get target() {
      return real.target
    },
    resumeDelayMs: real.resumeDelayMs,
    get maxPayloadBytes() {
      return real.maxPayloadBytes
    },
    connect: (hooks) => real.connect(hooks),
    subscribe: (onMessage) => real.subscribe(onMessage),
    close: () => real.close(),
    publish: (payload) => tap(payload, () => real.publish(payload))
  }
  if (!real.capabilities?.durable) return adapter
  // Durable mode: the same tap on publishDurable; everything else goes straight to the real log.
  const log = real as Adapter & DurableLog
  const durable: Adapter & DurableLog = {
    ...adapter,
    // The message id too: without it a resend is stored again instead of dropped by the broker's dedupe.
    publishDurable: (payload, messageId) => tap(payload, () => log.publishDurable(payload, messageId)),
    subscribeDurable: (start, hooks) => log.subscribeDurable(start, hooks),
    readRange: (after, limit, inclusive) => log.readRange(after, limit, inclusive),
    lastPosition: () => log.lastPosition(),
    savePosition: (name, position) => log.savePosition(name, position),
    loadPosition: (name) => log.loadPosition(name),
    comparePositions: (a, b) => log.comparePositions(a, b)
  }
  return durable
}

const app = feathers()
app.use('feed', { create: async (data: Tick) => data })
app.on('sync-status', ({ status }: SyncStatusEvent) => ledger.timeline.push({ status, at: Date.now() }))
let lastError: string | undefined
app.on('sync-error', (error: SyncError) => {
  errors[error.code] = (errors[error.code] ?? 0) + 1
  lastError = error.message
})
app.on('sync-gap', (gap: SyncGap) => gaps.push(gap))
const adapter = tapped(config.sync)
app.configure(sync({ ...config.sync, adapter }))
app.service('feed').on('created', (data: Tick, context: { remote?: unknown }) => {
  if (context.remote) ledger.receive(data)
})

const create = () => app.service('feed').create(ledger.emit(app.sync.status))

// The steady stream; it ends by itself after STREAM_LIMIT_MS should the parent never stop it.
const STREAM_LIMIT_MS = 10 * 60_000
let stream: NodeJS.Timeout | undefined
let streamEnds = 0
// Steady on average: a late timer (a busy machine) creates what is due, at most MAX_CATCH_UP at once.
const TICK_MS = 10
const MAX_CATCH_UP = 50
function setStream(on: boolean): void {
  clearInterval(stream)
  stream = undefined
  if (!on) return
  const startedAt = Date.now()
  const firstN = ledger.count
  streamEnds = startedAt + STREAM_LIMIT_MS
  stream = setInterval(() => {
    if (Date.now() > streamEnds) return setStream(false)
    const due = Math.floor(((Date.now() - startedAt) * config.rateHz) / 1000) - (ledger.count - firstN)
    for (let i = 0; i < Math.min(due, MAX_CATCH_UP); i++) void create()
  }, TICK_MS)
}

async function burst(count: number): Promise<number> {
  for (let done = 0; done < count; done += 250) {
    await Promise.all(Array.from({ length: Math.min(250, count - done) }, create))
  }
  return count
}

function probe(): Probe {
  const total = (emitter: NodeJS.EventEmitter) =>
    emitter.eventNames().reduce((sum, name) => sum + emitter.listenerCount(name), 0)
  const handles: Record<string, number> = {}
  for (const kind of process.getActiveResourcesInfo()) handles[kind] = (handles[kind] ?? 0) + 1
  return {
    status: app.sync.status,
    resumeDelayMs: config.sync.resumeDelayMs ?? adapter.resumeDelayMs ?? 0,
    stats: app.sync.stats(),
    next: ledger.count,
    receivedFrom: ledger.progress(),
    listeners: {
      app: total(app),
      syncOut: app.listenerCount('sync-out'),
      syncIn: app.listenerCount('sync-in'),
      service: total(app.service('feed') as unknown as NodeJS.EventEmitter),
      process: total(process)
    },
    handles,
    sockets: openSockets(),
    errors: { ...errors },
    lastError,
    gaps: [...gaps],
    problems: [...problems]
  }
}

const commands: { [C in Command['cmd']]: (command: Extract<Command, { cmd: C }>) => unknown } = {
  begin: ({ scenario }) => ledger.begin(scenario),
  stream: ({ on }) => setStream(on),
  burst: ({ count }) => burst(count),
  probe: () => probe(),
  report: ({ scenario }) => ledger.report(scenario),
  // Cluster only: a frame written on this worker's IPC channel behind the library's back.
  raw: ({ key, payloads }) => {
    for (const data of payloads)
      send(frame({ type: 'publish', key, data: toWire(Buffer.from(data, 'base64')) }))
  },
  close: async () => {
    setStream(false)
    await app.teardown()
  }
}

process.on('message', (message: ParentMessage) => {
  if (message?.fault !== 'cmd') return
  const run = commands[message.cmd] as (command: Command) => unknown
  Promise.resolve()
    .then(() => run(message))
    .then(
      (value) => send({ fault: 'reply', id: message.id, value: value ?? null }),
      (error: Error) => send({ fault: 'reply', id: message.id, error: error.stack ?? String(error) })
    )
})

app.sync.ready.then(
  () => send({ fault: 'started', ready: true }),
  (error: Error) => send({ fault: 'started', ready: false, error: error.message })
)
