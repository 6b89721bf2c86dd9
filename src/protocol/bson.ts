import { SyncConfigError } from '../errors'
import type { Serializer } from './serializers'

/**
 * The part of the bson module used here, written out so that the published types do not need bson
 * (an optional peer) to be installed. bson 6 and 7 both have this shape.
 */
interface BsonModule {
  serialize(document: Record<string, unknown>): Uint8Array
  deserialize(bytes: Uint8Array, options: { promoteBuffers: boolean }): Record<string, unknown>
  Int32: new (value: number) => object
  EJSON: {
    deserialize(ejson: Record<string, unknown>, options: { relaxed: boolean }): Record<string, unknown>
  }
}

/** bson (5 and later) marks each of its values with its major version under this key. */
const VERSION = Symbol.for('@@mdb.bson.version')
const MAX_DEPTH = 100

interface LoadedBson {
  module: BsonModule
  major: unknown
}

let loaded: LoadedBson | undefined

/**
 * The app's own bson: resolved from the app's directory first, so that what arrives is made of the same
 * bson the app and its MongoDB driver use (`instanceof ObjectId` holds there), then from this package.
 * Loaded on first use, so apps on JSON never load bson.
 */
export function loadBson(): LoadedBson {
  if (loaded) return loaded
  let path: string
  try {
    path = require.resolve('bson', { paths: [process.cwd()] })
  } catch {
    try {
      path = require.resolve('bson')
    } catch (cause) {
      throw new SyncConfigError(
        'serializer',
        'Option "serializer": "bson" needs the bson package in your app: npm install bson',
        { cause }
      )
    }
  }
  const module = require(path) as BsonModule
  loaded = { module, major: (new module.Int32(0) as unknown as Record<symbol, unknown>)[VERSION] }
  return loaded
}

type BsonValue = { _bsontype: string; toExtendedJSON?: (options: object) => unknown }

const isBsonValue = (value: object): value is BsonValue =>
  typeof (value as { _bsontype?: unknown })._bsontype === 'string'

/** Re-makes a value of another bson major with the loaded one, through its canonical Extended JSON. */
function adopt(value: BsonValue, bson: LoadedBson): unknown {
  if (typeof value.toExtendedJSON !== 'function') {
    throw new TypeError(`A ${value._bsontype} of an unsupported bson version cannot be converted`)
  }
  const canonical = value.toExtendedJSON({ relaxed: false, legacy: false })
  return bson.module.EJSON.deserialize({ value: canonical }, { relaxed: false }).value
}

/**
 * A copy of `value` in which BSON values of another bson major (an ObjectId of the bson 6 the `mongodb`
 * driver uses, while the app has bson 7, or the other way round) are made with the loaded bson. Only
 * plain objects and arrays are walked; anything else is kept as it is.
 */
function adoptForeign(value: unknown, bson: LoadedBson, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value
  if (isBsonValue(value)) {
    return (value as unknown as Record<symbol, unknown>)[VERSION] === bson.major ? value : adopt(value, bson)
  }
  if (Array.isArray(value)) return value.map((item) => adoptForeign(item, bson, depth + 1))
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  const copy: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    copy[key] = adoptForeign((value as Record<string, unknown>)[key], bson, depth + 1)
  }
  return copy
}

/**
 * BSON: keeps `Date`, `Buffer`/`Uint8Array`, `ObjectId` and other BSON types intact, with the app's own
 * bson. Values of another bson major are converted (only after bson refused them, so the usual message
 * pays nothing for the check).
 */
export const bson: Serializer = {
  name: 'bson',
  serialize(message) {
    const loaded = loadBson()
    try {
      return loaded.module.serialize(message as Record<string, unknown>)
    } catch (error) {
      if ((error as { name?: unknown } | null)?.name !== 'BSONVersionError') throw error
      return loaded.module.serialize(adoptForeign(message, loaded, 0) as Record<string, unknown>)
    }
  },
  deserialize(payload) {
    if (typeof payload === 'string') {
      throw new TypeError('bson payload arrived as text, expected bytes')
    }
    return loadBson().module.deserialize(payload, { promoteBuffers: true })
  }
}
