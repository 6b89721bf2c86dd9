/**
 * What a TypeScript user meets first: the packed package compiled with `tsc --strict` by consumer projects
 * in each module format (CommonJS with node10 and node16 resolution, ESM with NodeNext, a bundler), and
 * the ES module entry run by Node.
 */
import { installFixture, mustRun, packTarball, tempDir, typecheck } from './helpers/packed'

// Every consumer compiles this file: default and named imports, the typed app, hook context and events.
const CONSUMER = `
import { feathers, type Application, type HookContext } from '@feathersjs/feathers'
import sync, {
  SYNC,
  amqp,
  cluster,
  core,
  memory,
  nats,
  rabbitmq,
  redis,
  type SyncError,
  type SyncStatusEvent
} from 'feathers-fanout'

type IsAny<T> = 0 extends 1 & T ? true : false

const app = feathers()
app.configure(sync({ uri: 'memory://consumer' }))
export const adapters = [redis, amqp, rabbitmq, nats, memory, cluster].map((pick) => pick({ uri: 'memory://x' }))
export const bridge: (target: Application) => void = core
export const ready: Promise<unknown> = app.sync.ready
export const status: string = app.sync.status

export const local = (context: HookContext): void => {
  context[SYNC] = false
}

app.on('sync-error', (error) => {
  const typed: IsAny<typeof error> = false
  const reported: SyncError = error
  return [typed, reported.code]
})
app.once('sync-status', (event) => {
  const typed: IsAny<typeof event> = false
  const change: SyncStatusEvent = event
  return [typed, change.status]
})
// Events this package does not name keep Node's listener type.
app.on('connection', (connection: { id: string }) => connection.id)

// @ts-expect-error the plugin takes options, not a port number
app.configure(sync(6379))
`

// skipLibCheck off: the published declarations are checked too, as a project with it off would.
const compilerOptions = { strict: true, target: 'ES2022', skipLibCheck: false, types: ['node'], noEmit: true }

const CONSUMERS: Record<string, { tsconfig: object; packageJson?: object }> = {
  'commonjs, node10 resolution': {
    tsconfig: { ...compilerOptions, module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }
  },
  'commonjs, node16 resolution': {
    tsconfig: { ...compilerOptions, module: 'node16', moduleResolution: 'node16', esModuleInterop: true }
  },
  'ES module, NodeNext resolution': {
    tsconfig: { ...compilerOptions, module: 'nodenext', moduleResolution: 'nodenext' },
    packageJson: { type: 'module' }
  },
  'bundler resolution': {
    tsconfig: { ...compilerOptions, module: 'esnext', moduleResolution: 'bundler' }
  }
}

// Node running the ES module entry from the installed package.
const RUN_ESM = `
import sync, { memory, SYNC } from 'feathers-fanout'
import { feathers } from '@feathersjs/feathers'

const app = feathers()
app.configure(sync({ uri: 'memory://esm-run' }))
await app.sync.ready
console.log(JSON.stringify({ sync: typeof sync, memory: typeof memory, SYNC: typeof SYNC, status: app.sync.status }))
await app.teardown()
`

const slug = (name: string): string => name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()

const space = tempDir('fanout-module-formats')
let project = ''

beforeAll(async () => {
  const tarball = await packTarball(space.dir)
  const files: Record<string, string> = { 'run.mjs': RUN_ESM }
  for (const [name, { tsconfig, packageJson }] of Object.entries(CONSUMERS)) {
    files[`${slug(name)}/tsconfig.json`] = JSON.stringify({ compilerOptions: tsconfig, files: ['index.ts'] })
    files[`${slug(name)}/index.ts`] = CONSUMER
    if (packageJson) files[`${slug(name)}/package.json`] = JSON.stringify(packageJson)
  }
  // One install shared by every consumer: they sit in subdirectories of the same project.
  project = await installFixture(space.dir, tarball, {
    name: 'consumers',
    dependencies: { '@feathersjs/feathers': '^5.0.0', '@types/node': '^20.19.0' },
    files
  })
}, 300_000)

afterAll(() => space.cleanup())

describe('the packed package in a TypeScript project', () => {
  it.each(Object.keys(CONSUMERS))(
    'compiles with tsc --strict: %s',
    async (name) => {
      const out = await typecheck(`${project}/${slug(name)}`)
      expect(out.stdout + out.stderr).toBe('')
      expect(out.code).toBe(0)
    },
    120_000
  )
})

describe('the ES module entry', () => {
  it('gives a callable default export and the named adapters at run time', async () => {
    const report: unknown = JSON.parse(await mustRun(process.execPath, ['run.mjs'], project))
    expect(report).toEqual({ sync: 'function', memory: 'function', SYNC: 'symbol', status: 'ready' })
  }, 60_000)
})
