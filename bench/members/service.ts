/**
 * The service every Feathers member runs, and a sample of what feathers-fanout puts on the wire for
 * it, which the bare clients copy so that they carry the very same bytes.
 */
import { feathers } from '@feathersjs/feathers'
import { sync, type Adapter, type Payload, type SyncOptions } from '../../src/index'
import { makeRecord, type BenchRecord } from '../workload'

/** A `create` that returns the data with an id: the Feathers path without a database. */
export class MessageService {
  private nextId = 0

  async create(data: BenchRecord): Promise<BenchRecord> {
    // As @feathersjs/memory does it. Not `{ ...data, id }`: in Node 20 that gives every record its
    // own hidden class, which slows every later property access and JSON.stringify of it.
    return Object.assign({}, data, { id: ++this.nextId })
  }
}

/** What feathers-fanout sends for a `create` of `size`-byte data: its travelling context and the byte count. */
export async function sampleFanout(
  key: string,
  size: number,
  options: SyncOptions = {}
): Promise<{ context: Record<string, unknown>; bytes: number }> {
  const sent: Payload[] = []
  const capture: Adapter = {
    type: 'capture',
    target: 'capture',
    connect: async () => undefined,
    subscribe: async () => undefined,
    publish: (payload) => {
      sent.push(payload)
    },
    close: async () => undefined
  }
  const app = feathers()
  app.configure(sync({ ...options, adapter: capture, key }))
  app.use('messages', new MessageService())
  await app.sync.ready
  await app.service('messages').create(makeRecord(0, 0, size))
  await app.teardown()
  if (sent.length !== 1) throw new Error(`expected one message from the sample create, got ${sent.length}`)
  const text = String(sent[0])
  const envelope = JSON.parse(text) as { context?: Record<string, unknown> }
  return { context: envelope.context ?? {}, bytes: Buffer.byteLength(text) }
}
