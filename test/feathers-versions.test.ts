/**
 * Apps that pin an older Feathers 5 must get the library syncing on their own copy of Feathers, at run
 * time and in TypeScript. Each fixture installs the packed package next to a pinned Feathers (with the
 * `@feathersjs/commons` of the same release, as a lockfile of that time holds): 5.0.0 keyed service
 * options with a non-global symbol, so a second copy of Feathers could not read them.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { installFixture, mustRun, packTarball, tempDir, typecheck } from './helpers/packed'

// Two apps in one process on the memory bus: `todos` registered before the plugin, `notes` after it.
const RUN = `
const { feathers } = require('@feathersjs/feathers')
const sync = require('feathers-fanout')

function instance() {
  const app = feathers()
  const errors = []
  app.on('sync-error', (error) => errors.push(error.name + ': ' + error.message))
  const service = () => ({ async create(data) { return { id: 1, ...data } } })
  app.use('todos', service())
  app.configure(sync({ uri: 'memory://versions' }))
  app.use('notes', service())
  return { app, errors }
}

const arrival = (app, path) =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 5000)
    app.service(path).once('created', (data) => {
      clearTimeout(timer)
      resolve(data)
    })
  })

async function main() {
  const [a, b] = [instance(), instance()]
  await Promise.all([a.app.sync.ready, b.app.sync.ready])
  const arrived = Promise.all([arrival(b.app, 'todos'), arrival(b.app, 'notes')])
  await a.app.service('todos').create({ text: 'todo' })
  await a.app.service('notes').create({ text: 'note' })
  const [todo, note] = await arrived
  const report = {
    feathers: require('@feathersjs/feathers/package.json').version,
    todo,
    note,
    errors: [...a.errors, ...b.errors],
    sender: a.app.sync.stats(),
    receiver: b.app.sync.stats()
  }
  await Promise.all([a.app.teardown(), b.app.teardown()])
  console.log(JSON.stringify(report))
}
main()
`

const CHECK = `
import { feathers, type HookContext } from '@feathersjs/feathers'
import sync, { SYNC } from 'feathers-fanout'

const app = feathers()
app.configure(sync({ uri: 'memory://versions' }))
export const ready: Promise<unknown> = app.sync.ready
export const local = (context: HookContext): HookContext => {
  context[SYNC] = false
  return context
}
`

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    module: 'commonjs',
    moduleResolution: 'node10',
    target: 'ES2022',
    esModuleInterop: true,
    skipLibCheck: false,
    types: ['node']
  },
  files: ['check.ts']
}

const PINNED = ['5.0.0', '5.0.42']
const space = tempDir('fanout-feathers-versions')
const projects = new Map<string, string>()

beforeAll(async () => {
  const tarball = await packTarball(space.dir)
  // One install per pinned version, in parallel; the npm cache makes later runs fast.
  await Promise.all(
    PINNED.map(async (version) => {
      const dir = await installFixture(space.dir, tarball, {
        name: `feathers-${version}`,
        dependencies: {
          '@feathersjs/feathers': version,
          '@feathersjs/commons': version,
          '@types/node': '^20.19.0'
        },
        files: { 'run.js': RUN, 'check.ts': CHECK, 'tsconfig.json': JSON.stringify(TSCONFIG) }
      })
      projects.set(version, dir)
    })
  )
}, 300_000)

afterAll(() => space.cleanup())

describe.each(PINNED)('an app pinning @feathersjs/feathers %s', (version) => {
  it("gets no copy of Feathers of its own beside the app's", () => {
    const nested = join(
      projects.get(version) as string,
      'node_modules/feathers-fanout/node_modules/@feathersjs'
    )
    expect(existsSync(nested)).toBe(false)
  })

  it('syncs a create to the other instance with no sync-error', async () => {
    const dir = projects.get(version) as string
    const report: unknown = JSON.parse(await mustRun(process.execPath, ['run.js'], dir))
    // One match over the whole report, so a failure shows the counters of both instances.
    expect(report).toMatchObject({
      feathers: version,
      todo: { id: 1, text: 'todo' },
      note: { id: 1, text: 'note' },
      errors: [],
      receiver: { delivered: 2 }
    })
  }, 60_000)

  it('type-checks app.sync and context[SYNC] with tsc --strict', async () => {
    const out = await typecheck(projects.get(version) as string)
    expect(out.stdout + out.stderr).toBe('')
    expect(out.code).toBe(0)
  }, 120_000)
})
