/**
 * The two Feathers implementations: an app with one tiny `messages` service whose `create` returns the
 * data with an id, so the whole Feathers path (hooks, events, the sync plugin) is measured without a
 * database. Events are created through the service and heard on its `created` listener.
 */
import { feathers, type Application } from '@feathersjs/feathers'
import { sync, type SyncOptions } from '../../src/index'
import type { ChildConfig } from '../protocol'
import { makeRecord, type BenchRecord } from '../workload'
import { MessageService } from './service'
import type { Member, MemberFactory } from './types'

// feathers-sync 3.1.1 ships no types; only its plugin factory and its core are used.
type FeathersSync = ((options: Record<string, unknown>) => (app: Application) => void) & {
  core: (app: Application) => void
}
const feathersSync = require('feathers-sync') as FeathersSync

function fanoutOptions({ transport, url, key }: ChildConfig): SyncOptions {
  return transport === 'cluster' ? { uri: 'cluster://', key } : { uri: url, key }
}

/** Every default but one: the data is not sent a second time as `context.result`. */
const leanOptions = (config: ChildConfig): SyncOptions => ({ ...fanoutOptions(config), includeResult: false })

function feathersSyncOptions({ transport, url, key }: ChildConfig): Record<string, unknown> {
  if (transport === 'cluster') throw new Error('feathers-sync has no cluster adapter')
  // Its NATS adapter publishes through natsConnectionOptions alone and ignores `uri` there.
  if (transport === 'nats') return { uri: url, key, natsConnectionOptions: { servers: [new URL(url).host] } }
  return { uri: url, key }
}

async function createApp(
  configure: (app: Application) => void,
  onRecord: (record: BenchRecord) => void
): Promise<Member> {
  const app = feathers()
  // Configured before the service exists: feathers-sync only wraps services registered after it.
  app.configure(configure)
  app.use('messages', new MessageService())
  const service = app.service('messages')
  service.on('created', onRecord)
  const problems: string[] = []
  app.on('sync-error', (error: Error) => problems.push(error.message))
  await app.sync.ready
  const health = () => ({ missed: app.sync.stats?.().dropped.missed ?? 0, problems: problems.splice(0) })
  return { send: (record) => service.create(record), local: true, health }
}

export const fanout: MemberFactory = (config, onRecord) => createApp(sync(fanoutOptions(config)), onRecord)

export const fanoutLean: MemberFactory = (config, onRecord) => createApp(sync(leanOptions(config)), onRecord)

/** Durable delivery with its default retention; the broker stores each event before it is confirmed. */
export const fanoutDurable: MemberFactory = (config, onRecord) =>
  createApp(sync({ ...fanoutOptions(config), durable: true }), onRecord)

/** Batched frames: the events of one tick travel in one broker message. */
export const fanoutBatch: MemberFactory = (config, onRecord) =>
  createApp(sync({ ...fanoutOptions(config), batch: true }), onRecord)

/** Durable delivery with batched frames: a frame is one message of the log. */
export const fanoutDurableBatch: MemberFactory = (config, onRecord) =>
  createApp(sync({ ...fanoutOptions(config), durable: true, batch: true }), onRecord)

export const feathersSyncMember: MemberFactory = (config, onRecord) =>
  createApp(feathersSync(feathersSyncOptions(config)), onRecord)

/** The bytes feathers-sync sends for a `create` of `size`-byte data (its core, as its adapters use it). */
export async function sampleFeathersSync(size: number): Promise<number> {
  const app = feathers()
  app.configure(feathersSync.core)
  Object.assign(app, { sync: { serialize: JSON.stringify, deserialize: JSON.parse } })
  app.use('messages', new MessageService())
  const sent: string[] = []
  app.on('sync-out', (payload: string) => sent.push(payload))
  await app.service('messages').create(makeRecord(0, 0, size))
  if (sent.length !== 1) throw new Error(`expected one message from feathers-sync, got ${sent.length}`)
  return Buffer.byteLength(sent[0])
}
