/**
 * The summary of a V8 CPU profile behind `npm run bench -- --profile`: which samples count (those inside
 * the bursts' windows, idle ones apart), where each function's code lives, and how a process's CPU per
 * event is split by the samples' shares.
 */
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { classify, profileTimes, type CpuProfile } from '../bench/cpuprofile'
import { splitCpu } from '../bench/profile'

const ROOT = path.join(__dirname, '..')
const file = (relative: string) => pathToFileURL(path.join(ROOT, relative)).href

const frame = (id: number, functionName: string, url: string, lineNumber = id * 10) => ({
  id,
  callFrame: { functionName, url, lineNumber }
})

// Samples every 100 µs from 1,000, but for a wait of 5 ms before the one at 6,800.
const PROFILE: CpuProfile = {
  nodes: [
    { ...frame(1, '(root)', ''), children: [2, 3, 5, 6, 7] },
    frame(2, '(idle)', ''),
    frame(3, 'encode', file('src/protocol/codec.ts')),
    frame(4, 'write', file('node_modules/ioredis/built/Redis.js')),
    frame(5, '(garbage collector)', ''),
    frame(6, 'receive', file('bench/receiver.ts')),
    // The same function as node 3, reached through another caller.
    { ...frame(7, 'encode', file('src/protocol/codec.ts'), 30), children: [4] }
  ],
  startTime: 900,
  endTime: 7_000,
  //         1000 1100 1200 1300 1400 1500 1600 1700 1800 6800 6900
  samples: [3, 3, 4, 2, 2, 5, 6, 7, 3, 4, 4],
  timeDeltas: [100, 100, 100, 100, 100, 100, 100, 100, 100, 5_000, 100]
}

describe('bench CPU profile summary', () => {
  it('places code by where it lives: this project, the broker client, Feathers, the serializer, Node core, the harness', () => {
    const where = (name: string, url: string) => classify(name, url).group
    expect({
      codec: where('encode', file('src/protocol/codec.ts')),
      adapter: where('publish', file('adapters/redis/pubsub.ts')),
      json: where('serialize', file('src/protocol/serializers.ts')),
      bareCodec: where('encode', file('bench/members/bare.ts')),
      harness: where('burst', file('bench/workload.ts')),
      ioredis: where('sendCommand', file('node_modules/ioredis/built/Redis.js')),
      parser: where('execute', file('node_modules/redis-parser/lib/parser.js')),
      feathers: where('emit', file('node_modules/@feathersjs/feathers/lib/events.js')),
      feathersSync: where('publish', file('node_modules/feathers-sync/lib/adapters/redis.js')),
      bson: where('serialize', file('node_modules/bson/lib/bson.cjs')),
      net: where('writeGeneric', 'node:internal/stream_base_commons'),
      binding: where('writeUtf8String', ''),
      gc: where('(garbage collector)', ''),
      program: where('(program)', ''),
      tsx: where('load', file('node_modules/tsx/dist/loader.mjs')),
      tsxNames: where('__name', file('src/engine/bus.ts'))
    }).toEqual({
      codec: 'library',
      adapter: 'library',
      json: 'serializer',
      bareCodec: 'serializer',
      harness: 'harness',
      ioredis: 'client',
      parser: 'client',
      feathers: 'feathers',
      feathersSync: 'library',
      bson: 'serializer',
      net: 'node',
      binding: 'node',
      gc: 'gc',
      program: 'program',
      tsx: 'other',
      tsxNames: 'other'
    })
  })

  it('counts only the samples inside the windows, idle apart, each sample once whatever its delta', () => {
    // Windows [1,050, 1,350] and [1,650, 7,000]: samples at 1,100 1,200 1,300 and 1,700 to 6,900.
    const times = profileTimes(PROFILE, [
      [1_050, 1_350],
      [1_650, 7_000]
    ])
    expect({ busy: times.busy, idle: times.idle }).toEqual({ busy: 6, idle: 1 })
    expect(times.groups).toMatchObject({ library: 3, client: 3, harness: 0, gc: 0 })
    // Two nodes of the same function (two call paths) make one entry; the sample before the 5 ms wait
    // (an encode) counts once.
    expect(times.functions.map((f) => [f.name, f.where, f.group, f.samples])).toEqual([
      ['encode', 'src/protocol/codec.ts', 'library', 3],
      ['write', 'ioredis/built/Redis.js:41', 'client', 3]
    ])
    // Every write ran under an encode (node 7): with its calls, encode has all 6 busy samples.
    expect(times.inclusive.map((f) => [f.name, f.where, f.samples])).toEqual([
      ['encode', 'src/protocol/codec.ts', 6]
    ])
  })

  it('splits the CPU per event of a process by the shares of its busy samples', () => {
    const times = profileTimes(PROFILE, [[950, 7_000]])
    const split = splitCpu('publisher', 18, times)
    // 9 busy samples of 11: encode 4, write 3, GC 1, receive 1.
    expect({ busy: times.busy, idle: times.idle }).toEqual({ busy: 9, idle: 2 })
    expect(split.groups).toMatchObject({ library: 8, client: 6, gc: 2, harness: 2, node: 0 })
    expect(split.idleShare).toBeCloseTo(2 / 11, 9)
    expect(split.samples).toBe(9)
    expect(split.top.map((f) => [f.name, f.us])).toEqual([
      ['encode', 8],
      ['write', 6],
      ['(garbage collector)', 2],
      ['receive', 2]
    ])
  })
})
