import { SyncConfigError } from '../errors'
import { packFrames, type FrameLimits } from '../protocol/batch'
import type { Payload } from '../protocol/serializers'

/**
 * Limits of batched frames (the `batch` option). A frame never exceeds `maxMessageBytes` nor the
 * broker's own message limit where the adapter knows it (NATS `max_payload`).
 */
export interface BatchOptions {
  /** Most events in one frame. @default 500 */
  maxMessages?: number
  /** Most bytes in one frame, 4 bytes per event of framing included. @default 262_144 (256 KiB) */
  maxBytes?: number
}

/** Every option of `BatchOptions`; a missing or extra name does not compile. */
export const BATCH_OPTION_KEYS = { maxMessages: true, maxBytes: true } satisfies Record<
  keyof BatchOptions,
  true
>

export const BATCH_DEFAULTS: Readonly<Required<BatchOptions>> = { maxMessages: 500, maxBytes: 262_144 }

function limit(option: keyof BatchOptions, value: unknown): number {
  if (value === undefined) return BATCH_DEFAULTS[option]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new SyncConfigError(
      `batch.${option}`,
      `Option "batch.${option}" must be a whole number of 1 or more, got ${String(value)}`
    )
  }
  return value
}

/**
 * Validates the `batch` option: `false` (the default) or every limit filled in. In durable mode a frame is
 * one message of the log: its events share the message's position (see src/engine/event-positions.ts).
 * @throws SyncConfigError naming the bad option
 */
export function parseBatch(batch: unknown): Required<BatchOptions> | false {
  if (batch === undefined || batch === false) return false
  if (batch !== true && (typeof batch !== 'object' || batch === null || Array.isArray(batch))) {
    throw new SyncConfigError(
      'batch',
      `Option "batch" must be true, false or an object, got ${String(batch)}`
    )
  }
  const given = batch === true ? {} : (batch as BatchOptions)
  return { maxMessages: limit('maxMessages', given.maxMessages), maxBytes: limit('maxBytes', given.maxBytes) }
}

/**
 * Collects the messages sent during one tick and hands them on at `process.nextTick` as batched frames
 * (see src/protocol/batch.ts), so that a burst of events leaves in as few broker messages as the limits
 * allow. `limits` is asked at each tick, because the broker's limit is known only once connected.
 */
export class SendBatcher {
  private items: Payload[] = []

  constructor(
    private readonly limits: () => FrameLimits,
    private readonly send: (frames: Payload[]) => void
  ) {}

  /** Messages waiting for the end of the tick. */
  get pending(): number {
    return this.items.length
  }

  add(payload: Payload): void {
    this.items.push(payload)
    if (this.items.length === 1) process.nextTick(this.run)
  }

  /** Hands on what waits now rather than at the end of the tick (when closing). */
  flush(): void {
    this.run()
  }

  private readonly run = (): void => {
    const { items } = this
    if (items.length === 0) return
    this.items = []
    this.send(packFrames(items, this.limits()))
  }
}

/** The limits of one tick's frames: the option's, under `maxMessageBytes` and the broker's `brokerBytes`. */
export function frameLimits(
  batch: Required<BatchOptions>,
  maxMessageBytes: number,
  brokerBytes: number | undefined
): FrameLimits {
  return {
    maxMessages: batch.maxMessages,
    maxBytes: Math.min(batch.maxBytes, maxMessageBytes, brokerBytes ?? Infinity)
  }
}
