import { SyncConfigError } from '../errors'
import { bson, loadBson } from './bson'

/** What a serializer produces and an adapter carries: text or bytes. */
export type Payload = string | Uint8Array

/**
 * Turns a message into a payload and back. `deserialize` must accept both forms,
 * because a broker may hand back bytes for what was published as text.
 */
export interface Serializer {
  readonly name: string
  serialize(message: unknown): Payload
  deserialize(payload: Payload): unknown
}

export type SerializeFn = (message: unknown) => Payload
export type DeserializeFn = (payload: Payload) => unknown

const decoder = new TextDecoder()

/** Decodes UTF-8 bytes to text; leaves text alone. */
export const toText = (payload: Payload): string =>
  typeof payload === 'string' ? payload : decoder.decode(payload)

/** Plain JSON, the default, readable by feathers-sync 3.x. */
export const json: Serializer = {
  name: 'json',
  serialize: (message) => JSON.stringify(message),
  deserialize: (payload) => JSON.parse(toText(payload))
}

/** Built-in serializers by name. */
export const serializers: Readonly<Record<string, Serializer>> = Object.freeze({ json, bson })

export interface SerializerOptions {
  /** A built-in serializer by name, or your own. @default 'json' */
  serializer?: 'json' | 'bson' | Serializer
  /** feathers-sync style: your own serialize function (needs `deserialize` too). */
  serialize?: SerializeFn
  /** feathers-sync style: your own deserialize function (needs `serialize` too). */
  deserialize?: DeserializeFn
}

/** Picks the serializer from the options, naming the bad option when they make no sense. */
export function resolveSerializer(options: SerializerOptions): Serializer {
  const { serializer, serialize, deserialize } = options
  for (const [option, value] of [
    ['serialize', serialize],
    ['deserialize', deserialize]
  ] as const) {
    if (value !== undefined && typeof value !== 'function') {
      throw new SyncConfigError(option, `Option "${option}" must be a function, got ${typeof value}`)
    }
  }
  if (serialize || deserialize) {
    if (!serialize || !deserialize) {
      const missing = serialize ? 'deserialize' : 'serialize'
      throw new SyncConfigError(
        missing,
        `Option "${missing}" is required when the other half of the pair is given`
      )
    }
    return { name: 'custom', serialize, deserialize }
  }
  if (serializer === undefined) return json
  if (typeof serializer === 'string') {
    const found = serializers[serializer]
    if (!found) {
      throw new SyncConfigError(
        'serializer',
        `Unknown serializer "${serializer}"; known: ${Object.keys(serializers).join(', ')}`
      )
    }
    // Said at configure time, not on the first event, when the app has no bson.
    if (found === bson) loadBson()
    return found
  }
  if (typeof serializer?.serialize !== 'function' || typeof serializer?.deserialize !== 'function') {
    throw new SyncConfigError(
      'serializer',
      'Option "serializer" must have serialize and deserialize functions'
    )
  }
  return serializer
}
