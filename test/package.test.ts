import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(__dirname, '..')
const cjsEntry = join(root, 'dist/src/cjs.js')
const fastifyEntry = join(root, 'dist/src/fastify/cjs.js')

beforeAll(() => {
  // CI builds before testing; a developer running `npm test` on a fresh clone gets a build here.
  if (!existsSync(cjsEntry) || !existsSync(fastifyEntry))
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' })
}, 120_000)

const runNode = (args: string[]): string =>
  execFileSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe']
  }).trim()

describe('the published package', () => {
  it('is callable with require(), like feathers-sync, and carries the drop-in names', () => {
    const out = runNode([
      '-e',
      `const sync = require('feathers-fanout')
       const names = ['SYNC', 'core', 'redis', 'amqp', 'rabbitmq', 'nats', 'memory', 'cluster', 'default']
       console.log(JSON.stringify({ callable: typeof sync, missing: names.filter((n) => !(n in sync)), self: sync.default === sync }))`
    ])
    expect(JSON.parse(out)).toEqual({ callable: 'function', missing: [], self: true })
  })

  it('works from ES modules with a default and named imports', () => {
    const out = runNode([
      '--input-type=module',
      '-e',
      `import sync, { SYNC, core, sync as named } from 'feathers-fanout'
       console.log(JSON.stringify([typeof sync, typeof SYNC, typeof core, named === sync]))`
    ])
    expect(JSON.parse(out)).toEqual(['function', 'symbol', 'function', true])
  })

  it('exports the same names from ES modules as from CommonJS', () => {
    const esm = JSON.parse(
      runNode([
        '--input-type=module',
        '-e',
        `import * as m from 'feathers-fanout'; console.log(JSON.stringify(Object.keys(m).sort()))`
      ])
    ) as string[]
    const cjs = JSON.parse(
      runNode(['-e', `console.log(JSON.stringify(Object.keys(require('feathers-fanout')).sort()))`])
    ) as string[]
    expect(esm).toEqual(cjs)
  })

  it('does not load any broker driver until an adapter is used', () => {
    const out = runNode([
      '-e',
      `require('feathers-fanout')
       console.log(JSON.stringify(Object.keys(require.cache).filter((f) => /node_modules\\/(ioredis|amqplib|nats|bson)\\//.test(f)).length))`
    ])
    expect(out).toBe('0')
  })

  it('ships the client plugin under feathers-fanout/client, for require() and import, without server code', () => {
    const out = runNode([
      '-e',
      `const client = require('feathers-fanout/client')
       const server = Object.keys(require.cache).filter((f) => /dist\\/src\\/(feathers|engine|protocol)\\/|node_modules\\//.test(f))
       console.log(JSON.stringify([typeof client.recovery, client.default === client.recovery, server]))`
    ])
    expect(JSON.parse(out)).toEqual(['function', true, []])
    const esm = runNode([
      '--input-type=module',
      '-e',
      `import recovery, { recovery as named } from 'feathers-fanout/client'
       console.log(JSON.stringify([typeof recovery, named === recovery]))`
    ])
    expect(JSON.parse(esm)).toEqual(['function', true])
  })

  it('loads prom-client only when metrics are asked for', () => {
    const out = runNode([
      '-e',
      `const { feathers } = require('@feathersjs/feathers')
       const sync = require('feathers-fanout')
       const loaded = () => Object.keys(require.cache).some((f) => f.includes('/node_modules/prom-client/'))
       const app = feathers()
       app.configure(sync({ uri: 'memory://package-metrics' }))
       const before = loaded()
       app.sync.metrics({ registry: new (require('prom-client').Registry)() })
       console.log(JSON.stringify([before, loaded()]))
       void app.sync.close()`
    ])
    expect(JSON.parse(out)).toEqual([false, true])
  })

  it('ships declarations that augment the Feathers application type', () => {
    const declarations = readFileSync(join(root, 'dist/src/feathers/declarations.d.ts'), 'utf8')
    expect(declarations).toContain("declare module '@feathersjs/feathers/lib/declarations'")
    expect(declarations).toContain('get sync(): SyncHandle')
  })
})

describe('the feathers-fanout/fastify subpath', () => {
  it('is the Fastify plugin with require(), carrying its named exports', () => {
    const out = runNode([
      '-e',
      `const fanout = require('feathers-fanout/fastify')
       const meta = fanout[Symbol.for('plugin-meta')]
       console.log(JSON.stringify({ callable: typeof fanout, self: fanout.default === fanout && fanout.fanout === fanout, meta, error: typeof fanout.SyncConfigError }))`
    ])
    expect(JSON.parse(out)).toEqual({
      callable: 'function',
      self: true,
      meta: { name: 'feathers-fanout', fastify: '5.x' },
      error: 'function'
    })
  })

  it('exports the same names from ES modules as from CommonJS, the plugin as default', () => {
    const esm = JSON.parse(
      runNode([
        '--input-type=module',
        '-e',
        `import fanout, * as m from 'feathers-fanout/fastify'
         console.log(JSON.stringify({ names: Object.keys(m).sort(), same: fanout === m.fanout }))`
      ])
    ) as { names: string[]; same: boolean }
    const cjs = JSON.parse(
      runNode(['-e', `console.log(JSON.stringify(Object.keys(require('feathers-fanout/fastify')).sort()))`])
    ) as string[]
    expect(esm).toEqual({ names: cjs, same: true })
  })

  it('is not loaded by the root entry, and loads no broker driver or Feathers until used', () => {
    const loaded = (entry: string) =>
      JSON.parse(
        runNode([
          '-e',
          `require('${entry}')
           console.log(JSON.stringify(Object.keys(require.cache).map((f) => (/node_modules\\/(fastify|fastify-plugin|ioredis|amqplib|nats|bson|@feathersjs\\/feathers)\\//.exec(f) || [])[1]).filter(Boolean)))`
        ])
      ) as string[]
    expect(loaded('feathers-fanout')).not.toEqual(expect.arrayContaining(['fastify-plugin']))
    expect(loaded('feathers-fanout')).not.toContain('fastify')
    expect([...new Set(loaded('feathers-fanout/fastify'))]).toEqual(['fastify-plugin'])
  })

  it('has types for CommonJS and ES module consumers (tsc, node16 resolution through exports)', () => {
    let output = ''
    try {
      execFileSync(
        process.execPath,
        [require.resolve('typescript/bin/tsc'), '-p', 'test/types/package/tsconfig.json'],
        { cwd: root, encoding: 'utf8', stdio: 'pipe' }
      )
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error)
    }
    expect(output).toBe('')
  }, 120_000)
})
