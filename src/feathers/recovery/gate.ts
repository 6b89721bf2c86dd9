import { POSITION_EVENT } from '../../client/protocol'

/** The part of a socket.io server socket a gate uses. */
export interface GatedSocket {
  emit(event: string, ...args: unknown[]): boolean
}

type Emit = GatedSocket['emit']

interface Held {
  event: string
  args: unknown[]
  position: string | undefined
}

/** Most live emits held for one connection; past this it is released as if its hold had expired. */
const MAX_HELD = 10_000

/**
 * Stands between the app and one recovering connection's socket. Every event the app sends it that has a
 * log position goes out right after a position marker. From the connection's start until its replay is
 * done, the app's emits are held in order; once the replay has sent everything up to `floor`, held and
 * later events at or before `floor` are dropped (the replay covered them) and the rest flow.
 */
export class Gate {
  /** `holding` until the replay request, `replaying` during it, `open` after (or after the hold expired). */
  state: 'holding' | 'replaying' | 'open' = 'holding'
  /** Whether the hold expired before the client asked: a replay now could repeat what was sent. */
  expired = false
  /** Events at or before it were replayed; live copies of them are dropped. */
  floor: string | undefined
  private held: Held[] = []
  private announced: { event: string; position: string } | undefined
  private readonly send: Emit
  private timer: NodeJS.Timeout | undefined

  constructor(
    socket: GatedSocket,
    private readonly compare: (a: string, b: string) => number,
    holdMs: number
  ) {
    this.send = socket.emit.bind(socket)
    socket.emit = (event, ...args) => this.emit(event, args)
    this.timer = setTimeout(() => this.expire(), holdMs)
    this.timer.unref()
  }

  /** The next emit of `event` on this socket is the event at `position` (called just before it). */
  announce(event: string, position: string): void {
    this.announced = { event, position }
  }

  /** Sends straight to the socket, past the hold: replayed events go this way. */
  sendPositioned(event: string, args: unknown[], position: string | undefined): void {
    if (position !== undefined) this.send(POSITION_EVENT, position)
    this.send(event, ...args)
  }

  /** Sends what was held (dropping what `floor` covers) and lets later emits through. */
  open(): void {
    clearTimeout(this.timer)
    this.state = 'open'
    const held = this.held
    this.held = []
    for (const { event, args, position } of held) {
      if (!this.covered(position)) this.sendPositioned(event, args, position)
    }
  }

  /** Stops the hold timer (the connection is gone). */
  close(): void {
    clearTimeout(this.timer)
    this.held = []
  }

  private expire(): void {
    if (this.state !== 'holding') return
    this.expired = true
    this.open()
  }

  private emit(event: string, args: unknown[]): boolean {
    const announced = this.announced
    this.announced = undefined
    const position = announced?.event === event ? announced.position : undefined
    if (this.covered(position)) return true
    if (this.state === 'open') {
      this.sendPositioned(event, args, position)
      return true
    }
    this.held.push({ event, args, position })
    if (this.held.length >= MAX_HELD && this.state === 'holding') this.expire()
    return true
  }

  private covered(position: string | undefined): boolean {
    return position !== undefined && this.floor !== undefined && this.compare(position, this.floor) <= 0
  }
}
