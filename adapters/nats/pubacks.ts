import {
  createInbox,
  ErrorCode,
  headers,
  NatsError,
  type Msg,
  type NatsConnection,
  type Subscription
} from 'nats'

/** How long a publish waits for its PubAck on a live connection; the `nats` client's JetStream default. */
export const PUBACK_TIMEOUT_MS = 5_000
/**
 * Publishes sent and awaiting their PubAck at most; later ones wait here, unsent, until one is answered.
 * Why: a burst (a catch-up hands thousands of queued events over at once) would otherwise all be sent
 * at once, and the last ones could wait longer than the timeout behind the server's work on the first
 * ones, fail, and be sent again. With a window, a publish's clock starts when it is sent.
 */
export const PUBACK_WINDOW = 512

const refused = (text: string) => new NatsError(text, ErrorCode.JetStreamInvalidAck)

/** The JetStream API error of a message over the stream's `max_msg_size` (nats-server's errors.json). */
const MESSAGE_TOO_LARGE = 10054

/** JetStream refused a message for good: over the stream's `max_msg_size`. Sending it again cannot help. */
export class MessageTooLarge extends Error {}

/**
 * Bytes the `Nats-Msg-Id` header adds to a message: `NATS/1.0\r\n`, `Nats-Msg-Id: <id>\r\n` and the
 * closing `\r\n`, as the `nats` client encodes them. The server counts headers against max_payload.
 */
export const msgIdHeaderBytes = (messageId: string | undefined): number =>
  messageId === undefined ? 0 : 27 + Buffer.byteLength(messageId)

interface Waiting {
  resolve(seq: number): void
  reject(cause: Error): void
  /**
   * When the publish left (ms, performance.now()): stamped once the code that sent it has finished
   * running, so that a long synchronous loop of sends (a catch-up) does not eat into its timeout.
   * NaN until then.
   */
  sentAt: number
}

/** A publish not sent yet: the window was full. */
interface Queued {
  id: number
  subject: string
  bytes: Uint8Array
  options: { reply: string; headers?: ReturnType<typeof headers> }
  resolve(seq: number): void
  reject(cause: Error): void
}

/**
 * JetStream publishes on one connection, confirmed through one reply subscription instead of one request
 * each. Why: the client's `js.publish()` is a request, and each request makes its own timer, its own
 * error object (with a captured stack) and its own entry in the client's request table. A catch-up
 * publishes thousands of queued events in one go: in profiles that machinery took about half of the
 * publishing CPU, on the same core as the instance's own reader. Here a publish costs one map entry, and one
 * timer covers every publish waiting for its PubAck.
 */
export class PubAcks {
  private readonly prefix: string
  private readonly sub: Subscription
  /** In send order (a Map keeps insertion order), so the oldest is first. */
  private readonly waiting = new Map<number, Waiting>()
  /** Publishes not sent yet, oldest first from `head` on (see PUBACK_WINDOW). */
  private queued: Queued[] = []
  private head = 0
  private next = 0
  private timer: NodeJS.Timeout | undefined
  /** Sent in the code running now, to be stamped (see Waiting.sentAt). */
  private unstamped: Waiting[] = []

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = PUBACK_TIMEOUT_MS,
    private readonly window = PUBACK_WINDOW
  ) {
    // The connection's own inbox prefix (`inboxPrefix`), so that the same subject permissions apply.
    const { options } = nc as NatsConnection & { options?: { inboxPrefix?: string } }
    this.prefix = createInbox(options?.inboxPrefix)
    // The client sends this SUB again after each reconnect, before anything published later.
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (_error, msg) => this.answer(msg) })
  }

  /** Publishes awaiting their PubAck, sent or not yet. */
  get size(): number {
    return this.waiting.size + this.queued.length - this.head
  }

  /** Publishes sent and awaiting their PubAck (at most the window). */
  get sent(): number {
    return this.waiting.size
  }

  /**
   * Publishes `bytes` to `subject` (with `Nats-Msg-Id` = `messageId` when given); resolves with the stream
   * sequence the PubAck names (the first copy's sequence for a duplicate within the stream's window).
   */
  publish(subject: string, bytes: Uint8Array, messageId?: string): Promise<number> {
    const id = ++this.next
    let options: { reply: string; headers?: ReturnType<typeof headers> } = { reply: `${this.prefix}.${id}` }
    if (messageId !== undefined) {
      const h = headers()
      h.set('Nats-Msg-Id', messageId)
      options = { ...options, headers: h }
    }
    return new Promise<number>((resolve, reject) => {
      const publish = { id, subject, bytes, options, resolve, reject }
      if (this.waiting.size < this.window && this.head === this.queued.length) this.send(publish)
      else this.queued.push(publish)
    })
  }

  /**
   * Fails every publish still awaiting its PubAck, newest first (the core requeues each at the front):
   * the unsent ones, then the sent ones.
   */
  failAll(cause: Error): void {
    const failing = [...this.waiting.values(), ...this.queued.slice(this.head)]
    this.waiting.clear()
    this.queued = []
    this.head = 0
    this.disarm()
    for (let i = failing.length - 1; i >= 0; i--) failing[i].reject(cause)
  }

  private send({ id, subject, bytes, options, resolve, reject }: Queued): void {
    try {
      this.nc.publish(subject, bytes, options)
    } catch (cause) {
      // Not sent (too large, connection closed): this one fails alone.
      return reject(cause instanceof Error ? cause : new Error(String(cause)))
    }
    const waiting = { resolve, reject, sentAt: Number.NaN }
    this.waiting.set(id, waiting)
    if (this.unstamped.push(waiting) === 1) queueMicrotask(() => this.stamp())
    if (this.timer === undefined) this.arm(this.timeoutMs)
  }

  private stamp(): void {
    const now = performance.now()
    for (const waiting of this.unstamped) waiting.sentAt = now
    this.unstamped = []
  }

  /** Sends what waits for room in the window. */
  private pump(): void {
    const { queued } = this
    while (this.head < queued.length && this.waiting.size < this.window) this.send(queued[this.head++])
    // Sent ones are dropped in bulk, not one shift() per publish.
    if (this.head === queued.length) {
      this.queued = []
      this.head = 0
    } else if (this.head >= 1_024 && this.head * 2 >= queued.length) {
      this.queued = queued.slice(this.head)
      this.head = 0
    }
  }

  /** Fails what waits, and stops listening for PubAcks. */
  stop(cause: Error): void {
    this.failAll(cause)
    if (!this.sub.isClosed()) this.sub.unsubscribe()
  }

  private answer(msg: Msg): void {
    const id = Number(msg.subject.slice(this.prefix.length + 1))
    const waiting = this.waiting.get(id)
    if (!waiting) return
    this.waiting.delete(id)
    this.pump()
    if (this.waiting.size === 0) this.disarm()
    // A status message, not a PubAck: 503 when no stream listens on the subject.
    if (msg.headers?.hasError) {
      const { code, description } = msg.headers
      const text = code === 503 ? 'no responders: no JetStream stream takes the subject' : description
      return waiting.reject(new NatsError(text, code === 503 ? ErrorCode.NoResponders : String(code)))
    }
    try {
      const ack = JSON.parse(Buffer.from(msg.data).toString()) as {
        seq?: number
        error?: { code?: number; err_code?: number; description?: string }
      }
      if (ack.error?.err_code === MESSAGE_TOO_LARGE) {
        return waiting.reject(new MessageTooLarge(ack.error.description ?? 'message size exceeds maximum'))
      }
      if (ack.error || typeof ack.seq !== 'number') {
        const detail = ack.error ? `${ack.error.code ?? ''} ${ack.error.description ?? ''}` : 'no sequence'
        return waiting.reject(refused(`JetStream refused the message: ${detail.trim()}`))
      }
      waiting.resolve(ack.seq)
    } catch {
      waiting.reject(refused('JetStream answered with something that is not a PubAck'))
    }
  }

  /** One timer for every waiting publish: when it fires, the ones older than the timeout fail. */
  private arm(delayMs: number): void {
    this.timer = setTimeout(() => this.expire(), Math.max(1, delayMs))
    this.timer.unref()
  }

  private disarm(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private expire(): void {
    this.timer = undefined
    const now = performance.now()
    for (const [id, waiting] of this.waiting) {
      const left = Number.isNaN(waiting.sentAt) ? this.timeoutMs : waiting.sentAt + this.timeoutMs - now
      if (left > 0) {
        this.arm(left)
        break
      }
      this.waiting.delete(id)
      waiting.reject(new NatsError(`no PubAck within ${this.timeoutMs} ms`, ErrorCode.Timeout))
    }
    this.pump()
  }
}
