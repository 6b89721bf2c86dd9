import { feathers, type Application, type HookContext } from '@feathersjs/feathers'
import { MemoryService } from '@feathersjs/memory'
import { sync, type SyncError, type SyncOptions } from '../../src/index'

export const STANDARD_EVENTS = ['created', 'updated', 'patched', 'removed'] as const
/** The custom event every test service declares. */
export const CUSTOM_EVENT = 'status'

export interface Received {
  event: string
  data: Record<string, unknown>
  context: HookContext & { remote?: { instanceId: string | null; messageId: number | null } }
}

/** One app of a test fleet, with everything its `todos` service emitted and every sync-error. */
export interface TestApp {
  app: Application
  received: Received[]
  errors: SyncError[]
  /** Events named `event` whose data has `marker`. */
  seen(event: string, marker: string): Received[]
}

export function createTestApp(options: SyncOptions): TestApp {
  const app = feathers()
  const received: Received[] = []
  const errors: SyncError[] = []
  app.on('sync-error', (error: SyncError) => errors.push(error))
  app.configure(sync(options))
  app.use('todos', new MemoryService({ multi: true }), { events: [CUSTOM_EVENT] })
  for (const event of [...STANDARD_EVENTS, CUSTOM_EVENT]) {
    app.service('todos').on(event, (data: Record<string, unknown>, context: Received['context']) => {
      received.push({ event, data, context })
    })
  }
  return {
    app,
    received,
    errors,
    seen: (event, marker) => received.filter((r) => r.event === event && r.data?.marker === marker)
  }
}

/** Starts `count` apps on the same channel and waits until each is ready. */
export async function createFleet(count: number, options: SyncOptions): Promise<TestApp[]> {
  const fleet = Array.from({ length: count }, () => createTestApp(options))
  await Promise.all(fleet.map(({ app }) => app.sync.ready))
  return fleet
}

export async function teardownFleet(fleet: TestApp[]): Promise<void> {
  await Promise.all(fleet.map(({ app }) => app.teardown()))
}

/**
 * Waits until `check` holds, polling every few ms, and fails with `what` after `timeoutMs` (a function
 * is called then, so the message can say what each instance's state was).
 * Used to wait for deliveries, never as a fixed sleep.
 */
export async function waitFor(
  what: string | (() => string),
  check: () => boolean,
  timeoutMs = 10_000
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) {
      // A function describes the state at the timeout (see fleetState), not at the start.
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

let counter = 0
/** A channel name no other test run uses. */
export const uniqueKey = (prefix = 'fanout-test'): string =>
  `${prefix}-${process.pid}-${Date.now().toString(36)}-${++counter}`

/**
 * Sends a `created` marker from `sender` and waits until every other app has it. Brokers keep
 * one publisher's messages in order, so after this every earlier message of `sender` has arrived.
 */
export async function barrier(fleet: TestApp[], sender: TestApp, timeoutMs?: number): Promise<void> {
  const marker = uniqueKey('barrier')
  await sender.app.service('todos').create({ marker })
  await waitFor(
    `barrier ${marker} on every instance`,
    () => fleet.every((member) => member.seen('created', marker).length > 0),
    timeoutMs
  )
}
