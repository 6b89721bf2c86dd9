/**
 * A login is a `create` on the authentication service, and its `created` event carries the access token
 * and the user (a logout's `removed` too). Feathers never publishes them to clients, and by default they
 * do not travel through the broker either; `syncAuthentication: true` keeps feathers-sync's behaviour.
 */
import { feathers, type Application } from '@feathersjs/feathers'
import { AuthenticationService, JWTStrategy } from '@feathersjs/authentication'
import { LocalStrategy, hooks as local } from '@feathersjs/authentication-local'
import { MemoryService } from '@feathersjs/memory'
import { sync, SyncConfigError, type SyncError } from '../src/index'
import { uniqueKey, waitFor } from './helpers/apps'

const PASSWORD = 'a password long enough'

function createApp(key: string, syncAuthentication?: boolean) {
  const app: Application = feathers()
  app.set('authentication', {
    secret: 'a secret shared by both instances',
    entity: 'user',
    service: 'users',
    authStrategies: ['jwt', 'local'],
    local: { usernameField: 'email', passwordField: 'password' }
  })
  app.configure(sync({ uri: `memory://${key}`, key, syncAuthentication, errorReportIntervalMs: 0 }))
  app.use('users', new MemoryService({ id: 'id' }))
  app.service('users').hooks({ before: { create: [local.hashPassword('password')] } })
  const authentication = new AuthenticationService(app)
  authentication.register('jwt', new JWTStrategy())
  authentication.register('local', new LocalStrategy())
  app.use('authentication', authentication)
  const seen = { logins: [] as unknown[], users: [] as unknown[], errors: [] as SyncError[] }
  app.service('authentication').on('created', (result: unknown) => seen.logins.push(result))
  app.service('users').on('created', (user: unknown) => seen.users.push(user))
  app.on('sync-error', (error: SyncError) => seen.errors.push(error))
  return { app, seen }
}

describe('the authentication service and sync', () => {
  const apps: Application[] = []
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.teardown()))
  })

  async function pair(syncAuthentication?: boolean) {
    const key = uniqueKey('auth')
    const made = [createApp(key, syncAuthentication), createApp(key, syncAuthentication)]
    apps.push(...made.map(({ app }) => app))
    await Promise.all(made.map(({ app }) => app.sync.ready))
    const [a, b] = made
    // The user is created on a, where it logs in; its event reaching b shows the channel works.
    await a.app.service('users').create({ email: 'ann@example.com', password: PASSWORD })
    await waitFor('the user on the other instance', () => b.seen.users.length === 1)
    return { a, b }
  }

  it('by default, a login stays on its instance: no token travels, other events still sync', async () => {
    const { a, b } = await pair()
    const result = await a.app
      .service('authentication')
      .create({ strategy: 'local', email: 'ann@example.com', password: PASSWORD })
    expect(typeof (result as { accessToken?: unknown }).accessToken).toBe('string')
    expect(a.seen.logins).toHaveLength(1)
    // A later event that does travel proves the channel works and that the login would have arrived by now.
    await a.app.service('users').create({ email: 'bob@example.com', password: PASSWORD })
    await waitFor('the next user on the other instance', () =>
      b.seen.users.some((u) => (u as { email: string }).email === 'bob@example.com')
    )
    expect(b.seen.logins).toEqual([])
    // Two users created, no login.
    expect(a.app.sync.stats().published).toBe(2)
  })

  it('with syncAuthentication: true, logins sync as with feathers-sync', async () => {
    const { a, b } = await pair(true)
    await a.app
      .service('authentication')
      .create({ strategy: 'local', email: 'ann@example.com', password: PASSWORD })
    await waitFor('the login on the other instance', () => b.seen.logins.length === 1)
    expect(typeof (b.seen.logins[0] as { accessToken?: unknown }).accessToken).toBe('string')
  })

  it('a login event from an instance that syncs them is dropped by one that does not, with a reason', async () => {
    const key = uniqueKey('auth-mixed')
    const sender = createApp(key, true)
    const receiver = createApp(key)
    apps.push(sender.app, receiver.app)
    await Promise.all([sender.app.sync.ready, receiver.app.sync.ready])
    await sender.app.service('users').create({ email: 'cat@example.com', password: PASSWORD })
    await sender.app
      .service('authentication')
      .create({ strategy: 'local', email: 'cat@example.com', password: PASSWORD })
    await waitFor('the drop to be reported', () =>
      receiver.seen.errors.some(({ message }) => message.includes('syncAuthentication'))
    )
    expect(receiver.seen.logins).toEqual([])
    expect(receiver.app.sync.stats().dropped.unknownPath).toBe(1)
  })

  it('refuses a syncAuthentication that is not a boolean, naming it', () => {
    const app = feathers()
    expect(() => app.configure(sync({ uri: 'memory://x', syncAuthentication: 'yes' as never }))).toThrow(
      SyncConfigError
    )
    expect(() => app.configure(sync({ uri: 'memory://x', syncAuthentication: 'yes' as never }))).toThrow(
      /syncAuthentication/
    )
  })
})
