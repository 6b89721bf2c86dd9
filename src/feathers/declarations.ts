import type { SYNC } from './context'
import type { SyncHandle, SyncInfo } from './handle'

declare module '@feathersjs/feathers/lib/declarations' {
  // The type parameters must match Feathers' own declaration to merge with it.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface Application<Services, Settings> {
    /**
     * Set by `app.configure(sync(...))` or `app.configure(core)`. A custom adapter may assign
     * `{ type, ready, serialize, deserialize }`, which is merged into the handle.
     */
    get sync(): SyncHandle
    set sync(value: SyncInfo)
  }
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface HookContext<A, S> {
    /** Set to `false` in a hook to keep this call's event on this instance only. */
    [SYNC]?: boolean
  }
}
