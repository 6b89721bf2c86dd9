/**
 * Real Feathers authentication for the recovery fleet: a `users` service (each user belongs to a room),
 * JWT + local strategies with one secret on every instance (a JWT issued by one is valid on all), and the
 * standard channel setup, as a generated Feathers app has it: a connection is `anonymous` until it logs
 * in, then it joins its user's room. On the client, `@feathersjs/authentication-client` with its own
 * token storage.
 */
import type { Application, HookContext, Params, RealTimeConnection } from '@feathersjs/feathers'
import { AuthenticationService, JWTStrategy, type AuthenticationResult } from '@feathersjs/authentication'
import { LocalStrategy, hooks as local } from '@feathersjs/authentication-local'
import authenticationClient, { MemoryStorage } from '@feathersjs/authentication-client'
import { MemoryService } from '@feathersjs/memory'
import { SYNC } from '../../src/index'

export interface User {
  id?: number
  email: string
  password?: string
  room: string
}

/** Every instance has the same users (a real app would share its database). */
export const USERS: readonly User[] = [
  { email: 'ann@example.com', room: 'a' },
  { email: 'bob@example.com', room: 'b' },
  { email: 'cat@example.com', room: 'a' }
]
export const PASSWORD = 'correct horse battery staple'
const SECRET = 'recovery-test-secret-shared-by-every-instance'

const stayLocal = (context: HookContext): void => {
  ;(context as unknown as Record<symbol, unknown>)[SYNC] = false
}

/** Adds users, authentication and the channels to a server app, and creates the users. */
export async function configureAuthentication(app: Application): Promise<void> {
  app.set('authentication', {
    secret: SECRET,
    entity: 'user',
    service: 'users',
    authStrategies: ['jwt', 'local'],
    jwtOptions: {
      header: { typ: 'access' },
      audience: 'https://fanout.test',
      issuer: 'feathers',
      algorithm: 'HS256',
      expiresIn: '1h'
    },
    local: { usernameField: 'email', passwordField: 'password' }
  })
  app.use('users', new MemoryService<User>())
  app.service('users').hooks({
    // Users are each instance's copy of one shared table: creating them here is not news for the others.
    before: { create: [local.hashPassword('password'), stayLocal] },
    after: { all: [local.protect('password')] }
  })
  const authentication = new AuthenticationService(app)
  authentication.register('jwt', new JWTStrategy())
  authentication.register('local', new LocalStrategy())
  app.use('authentication', authentication)
  // A login's `created` event carries the access token and the user: by default it does not travel.

  app.on('connection', (connection: RealTimeConnection) => app.channel('anonymous').join(connection))
  app.on('login', (result: AuthenticationResult, { connection }: Params) => {
    if (!connection) return
    app.channel('anonymous').leave(connection)
    app.channel(`room/${(result.user as User).room}`).join(connection)
  })
  for (const user of USERS) await app.service('users').create({ ...user, password: PASSWORD })
}

/** The authentication client, with a token storage of its own (the default one is shared in Node). */
export const authenticationFor = () => authenticationClient({ storage: new MemoryStorage() })

/** Logs the client app in as `email` (local strategy); the JWT is stored for re-authentication. */
export const login = (app: Application, email: string): Promise<AuthenticationResult> =>
  app.authenticate({ strategy: 'local', email, password: PASSWORD })
