/**
 * The frames the cluster adapter sends over Node's IPC channel between workers and the primary.
 * Every frame carries `source: 'feathers-fanout'` and a protocol version, so both sides can tell
 * them apart from the app's own IPC traffic and from other libraries' messages (socket.io's
 * cluster adapter tags its frames the same way with `_sio_adapter`).
 */
import type { Payload } from '../../src/adapter'

export const SOURCE = 'feathers-fanout'
export const PROTOCOL_VERSION = 1

/**
 * A payload as it travels. Node's IPC is JSON by default, which would turn a Buffer into a
 * `{ type: 'Buffer', data: [ …numbers ] }` array several times its size: bytes go as base64 in a
 * tagged object instead, which works the same with `serialization: 'advanced'`.
 */
export type WireData = string | { base64: string }

/**
 * What a `publish` or `message` frame carries: one payload, or the payloads a worker published in
 * one tick, in order. A batch costs one IPC write and one relay pass instead of one per event.
 */
export type WireBatch = WireData | WireData[]

interface Tagged {
  source: typeof SOURCE
  v: typeof PROTOCOL_VERSION
}

type WorkerBody =
  | { type: 'subscribe'; key: string }
  | { type: 'unsubscribe'; key: string }
  // `echo: false`: the sending worker has no use for its own messages, so the relay skips it.
  | { type: 'publish'; key: string; data: WireBatch; echo?: boolean }

type PrimaryBody =
  | { type: 'subscribed'; key: string }
  | { type: 'message'; key: string; data: WireBatch }
  // Sent when setupPrimary() starts, so workers forked earlier (re)subscribe at once.
  | { type: 'hello' }

/** Frames a worker sends to the primary. */
export type WorkerFrame = Tagged & WorkerBody
/** Frames the primary sends to a worker. */
export type PrimaryFrame = Tagged & PrimaryBody

const tag: Tagged = { source: SOURCE, v: PROTOCOL_VERSION }

/** A frame ready to send: the body with the tag. */
export const frame = <B extends WorkerBody | PrimaryBody>(body: B): Tagged & B => ({ ...tag, ...body })

/** Encodes a payload for IPC. */
export function toWire(payload: Payload): WireData {
  if (typeof payload === 'string') return payload
  return { base64: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64') }
}

/** Decodes a payload from IPC: text stays text, bytes come back as a Buffer. */
export const fromWire = (data: WireData): Payload =>
  typeof data === 'string' ? data : Buffer.from(data.base64, 'base64')

/** The payloads of a frame, in order. */
export const unbatch = (data: WireBatch): Payload[] =>
  Array.isArray(data) ? data.map(fromWire) : [fromWire(data)]

/** Whether an IPC message claims to be ours. Everything else is someone else's and is ignored. */
export const isOurs = (message: unknown): message is Record<string, unknown> =>
  typeof message === 'object' && message !== null && (message as { source?: unknown }).source === SOURCE

const isKey = (key: unknown): key is string => typeof key === 'string' && key !== ''

const isWireData = (data: unknown): data is WireData =>
  typeof data === 'string' ||
  (typeof data === 'object' && data !== null && typeof (data as { base64?: unknown }).base64 === 'string')

const isWireBatch = (data: unknown): data is WireBatch =>
  Array.isArray(data) ? data.length > 0 && data.every(isWireData) : isWireData(data)

/** Says what is wrong with a frame that claims to be ours, or returns `undefined` when it is sound. */
function problem(message: Record<string, unknown>, types: readonly string[]): string | undefined {
  if (message.v !== PROTOCOL_VERSION) return `unsupported protocol version ${JSON.stringify(message.v)}`
  if (typeof message.type !== 'string' || !types.includes(message.type)) {
    return `unknown frame type ${JSON.stringify(message.type)}`
  }
  if (message.type !== 'hello' && !isKey(message.key)) return `"${message.type}" frame without a key`
  if ((message.type === 'publish' || message.type === 'message') && !isWireBatch(message.data)) {
    return `"${message.type}" frame whose data is neither text nor { base64 }, nor a list of them`
  }
  return undefined
}

/** Checks a frame from a worker; returns it typed, or the problem as a string. */
export const parseWorkerFrame = (message: Record<string, unknown>): WorkerFrame | string =>
  problem(message, ['subscribe', 'unsubscribe', 'publish']) ?? (message as unknown as WorkerFrame)

/** Checks a frame from the primary; returns it typed, or the problem as a string. */
export const parsePrimaryFrame = (message: Record<string, unknown>): PrimaryFrame | string =>
  problem(message, ['subscribed', 'message', 'hello']) ?? (message as unknown as PrimaryFrame)
