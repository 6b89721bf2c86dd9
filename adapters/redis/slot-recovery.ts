import type { Cluster } from 'ioredis'
import { Pause } from './pause'

const FIRST_DELAY_MS = 100
const MAX_DELAY_MS = 500

/**
 * Errors a Redis Cluster returns while the node serving a slot is away or being replaced: its connection
 * closed or refused, the cluster down until a replica takes over, redirections that ran out, a node not
 * yet ready or no longer a master.
 */
const MOVING =
  /Connection is closed|CLUSTERDOWN|Too many Cluster redirections|Cluster isn't ready|TRYAGAIN|MOVED|ASK |LOADING|READONLY|MASTERDOWN|ECONNREFUSED|ECONNRESET|EPIPE/

/** Whether a command failed on a Cluster because the node serving its slot is away or moving. */
export const slotMoving = (error: unknown): boolean =>
  MOVING.test(error instanceof Error ? error.message : String(error))

/**
 * Waits until the node serving one slot of a Cluster answers again. A Cluster client stays `ready` while
 * one master is dead (the others answer), so nothing else tells when a failover has put a replica in its
 * place. Each round asks a node for the slot map again (`CLUSTER SLOTS`) and then sends `probe`, a
 * command routed to the slot, waiting 100 ms doubling to 0.5 s between rounds. One recovery at a time.
 */
export class SlotRecovery {
  private running = false
  private stopped = false
  private readonly pause = new Pause()

  constructor(
    private readonly cluster: Cluster,
    /** A cheap command on a key in the slot, e.g. `XINFO STREAM <stream>`. */
    private readonly probe: () => Promise<unknown>,
    /** The slot answers again. */
    private readonly up: () => void,
    /** A round failed; `error` is why. */
    private readonly failed: (error: unknown) => void
  ) {}

  /** Whether a recovery is under way. */
  get active(): boolean {
    return this.running
  }

  /** Starts probing, unless already doing so. */
  start(): void {
    if (this.running || this.stopped) return
    this.running = true
    void this.run()
  }

  stop(): void {
    this.stopped = true
    this.pause.wake()
  }

  private async run(): Promise<void> {
    for (let round = 0; !this.stopped; round++) {
      await this.pause.wait(Math.min(FIRST_DELAY_MS * 2 ** round, MAX_DELAY_MS))
      if (this.stopped) break
      try {
        await new Promise<void>((resolve) => this.cluster.refreshSlotsCache(() => resolve()))
        await this.probe()
        this.running = false
        if (!this.stopped) this.up()
        return
      } catch (error) {
        this.failed(error)
      }
    }
    this.running = false
  }
}
