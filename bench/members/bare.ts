/**
 * What the bare clients put on the wire: the very bytes feathers-fanout sends for the same `create`
 * (its JSON envelope, sender and message id included), so the baseline does the same serialization
 * work per event and carries the same number of bytes. Everything else a framework does is left out.
 */
import { randomBytes } from 'node:crypto'
import type { BenchRecord } from '../workload'

interface Envelope {
  event: string
  path: string
  data: BenchRecord
  sender: string
}

export class BareCodec {
  readonly sender = randomBytes(8).toString('hex')
  private nextId = 0

  /** `context` is what feathers-fanout sends with the same `create` (bench/members/service.ts). */
  constructor(
    private readonly context: Record<string, unknown>,
    private readonly onRecord: (record: BenchRecord) => void
  ) {}

  /** The message for one event, as feathers-fanout would encode it. */
  encode(record: BenchRecord): string {
    const id = ++this.nextId
    // The record as the benchmark's service returns it (bench/members/service.ts).
    const data = Object.assign({}, record, { id })
    return JSON.stringify({
      event: 'created',
      path: 'messages',
      data,
      // feathers-fanout sends the data again as `context.result` by default (includeResult).
      context: 'result' in this.context ? Object.assign({}, this.context, { result: data }) : this.context,
      v: 1,
      sender: this.sender,
      id
    })
  }

  /** Decodes a message and hands its data on, unless this process sent it (an echo). */
  readonly decode = (payload: string | Uint8Array): void => {
    const text =
      typeof payload === 'string'
        ? payload
        : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString()
    const envelope = JSON.parse(text) as Envelope
    if (envelope.sender !== this.sender) this.onRecord(envelope.data)
  }
}
