/**
 * Bare Node cluster IPC: `process.send` of the message to the primary, whose relay (bench/relay.ts)
 * sends it on to every other subscribed worker. No tags beyond the key, no checks, no acks.
 */
import { BareCodec } from './bare'
import type { MemberFactory } from './types'

/** The frames of the bare relay. */
export interface BareFrame {
  bare: string
  d?: string
  /** `sub`: subscribe this worker to the key; `ok`: the primary's answer. */
  op?: 'sub' | 'ok'
}

export const isBareFrame = (message: unknown): message is BareFrame =>
  typeof (message as BareFrame | null)?.bare === 'string'

export const bareCluster: MemberFactory = async ({ key, context }, onRecord) => {
  const codec = new BareCodec(context, onRecord)
  const send = process.send?.bind(process)
  if (!send) throw new Error('the bare cluster client must run in a cluster worker')
  const subscribed = new Promise<void>((resolve) => {
    process.on('message', (message: unknown) => {
      if (!isBareFrame(message) || message.bare !== key) return
      if (message.d !== undefined) codec.decode(message.d)
      else if (message.op === 'ok') resolve()
    })
  })
  send({ bare: key, op: 'sub' } satisfies BareFrame)
  await subscribed
  return {
    send: (record) => send({ bare: key, d: codec.encode(record) } satisfies BareFrame),
    local: false
  }
}
