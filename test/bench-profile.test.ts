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

// Samples every 100 µs from 1,000: the sample at 1,000 + 100 k stands for the 100 µs after it.
const PROFILE: CpuProfile = {
  nodes: [
    frame(1, '(root)', ''),
    frame(2, '(idle)', ''),
    frame(3, 'encode', file('src/protocol/codec.ts')),
    frame(4, 'write', file('node_modules/ioredis/built/Redis.js')),
    frame(5, '(garbage collector)', ''),
    frame(6, 'receive', file('bench/receiver.ts')),
    // The same function as node 3, reached through another caller.
    frame(7, 'encode', file('src/protocol/codec.ts'), 30)
  ],
  startTime: 900,
  endTime: 2_100,
  //         1000 1100 1200 1300 1400 1500 1600 1700 1800 1900 2000
  samples: [3, 3, 4, 2, 2, 5, 6, 7, 3, 4, 4],
  timeDeltas: [100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100]
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
      tsx: where('load', file('node_modules/tsx/dist/loader.mjs'))
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
      tsx: 'other'
    })
  })

  it('counts only the samples inside the windows, idle apart, and sums self time per function', () => {
    // Windows [1,050, 1,350] and [1,650, 1,950]: samples at 1,100 1,200 1,300 and 1,700 1,800 1,900.
    const times = profileTimes(PROFILE, [
      [1_050, 1_350],
      [1_650, 1_950]
    ])
    expect({ samples: times.samples, busyUs: times.busyUs, idleUs: times.idleUs }).toEqual({
      samples: 5,
      busyUs: 500,
      idleUs: 100
    })
    expect(times.groups).toMatchObject({ library: 300, client: 200, harness: 0, gc: 0 })
    // Two nodes of the same function (two call paths) make one entry.
    expect(times.functions.map((f) => [f.name, f.where, f.group, f.selfUs])).toEqual([
      ['encode', 'src/protocol/codec.ts', 'library', 300],
      ['write', 'ioredis/built/Redis.js:41', 'client', 200]
    ])
  })

  it('splits the CPU per event of a process by the shares of its busy samples', () => {
    const times = profileTimes(PROFILE, [[950, 2_050]])
    const split = splitCpu('publisher', 20, times)
    // 9 busy samples of 11 (two idle) that stand for 800 µs: the last one stands for no time.
    expect({ samples: times.samples, busyUs: times.busyUs, idleUs: times.idleUs }).toEqual({
      samples: 9,
      busyUs: 800,
      idleUs: 200
    })
    // library 400 of 800 µs busy, client 200, GC 100, harness 100.
    expect(split.groups).toMatchObject({ library: 10, client: 5, gc: 2.5, harness: 2.5, node: 0 })
    expect(split.idleShare).toBeCloseTo(0.2, 9)
    expect(split.busyMs).toBeCloseTo(0.8, 9)
    expect(split.top.map((f) => [f.name, f.us])).toEqual([
      ['encode', 10],
      ['write', 5],
      ['(garbage collector)', 2.5],
      ['receive', 2.5]
    ])
  })
})
