import {
  describeMessage,
  SyncMessageError,
  SyncOversizeError,
  SyncSerializationError,
  type DropReason,
  type SyncError
} from '../errors'
import { ENVELOPE_VERSION, envelopeProblem, type Envelope } from './envelope'
import { Sealer, checkSecurityOptions, type SecurityOptions } from './security'
import { json, type Payload, type Serializer } from './serializers'
import { SequenceWindow } from './window'

/**
 * How deliveries of a mode are judged. Plain pub/sub (`broadcast`) hands over what is live: a signed frame
 * older than `maxMessageAgeMs` is `stale`, a signed frame seen already is a `replayed` attack. A durable log
 * hands over old messages on purpose and its broker redelivers: no age limit there, and a repeat is a
 * `duplicate`, counted like any other redelivery.
 */
export interface DeliveryPolicy {
  readonly checkAge: boolean
  readonly repeat: 'replayed' | 'duplicate'
  /**
   * A hole in a sender's message numbers is counted and reported as `missed`: plain pub/sub keeps
   * nothing for a subscriber that was away or cut off (e.g. by Redis' output buffer limit), and a
   * sender's messages arrive in order, so the hole is what this instance lost. A durable log reports
   * its own gaps (`sync-gap`) and may hand messages over out of order.
   */
  readonly countMissed: boolean
}

/**
 * `group`: a consumer group delivery. Every member of a group reads the log for the group, so the sender's
 * own messages are kept (it may be the member that handles them), and no duplicate window applies: a
 * redelivery (after a crash, a claim or a replay) must reach the handler again.
 */
export type DeliveryMode = 'broadcast' | 'durable' | 'group'

export const POLICIES: Readonly<Record<DeliveryMode, DeliveryPolicy>> = {
  broadcast: { checkAge: true, repeat: 'replayed', countMissed: true },
  durable: { checkAge: false, repeat: 'duplicate', countMissed: false },
  group: { checkAge: false, repeat: 'duplicate', countMissed: false }
}

/** What travels, before the codec stamps it. */
export type Message = Pick<Envelope, 'event' | 'path' | 'data' | 'context' | 'trace'>

/**
 * Where the codec sends the messages it refuses or finds missing: `count` of them (1 unless given),
 * counted, and reported when `error` is given.
 */
export type DropSink = (reason: DropReason, error?: SyncError, count?: number) => void

/** Options of a {@link Codec}; every limit is validated by `parseOptions` before it gets here. */
export interface CodecOptions extends SecurityOptions {
  /** Stamped on every message as `sender`. */
  instanceId: string
  /** Channel the sealer binds frames to. */
  channel: string
  /** Largest encoded message sent or accepted, in bytes. */
  maxMessageBytes: number
  /** Whether this instance's own messages are handed back (`emitOrder: 'broker'`) or dropped as echoes. */
  keepOwn: boolean
}

/** Size in bytes, without encoding a string that is clearly under `limit`. */
function overLimit(payload: Payload, limit: number): number | undefined {
  if (typeof payload !== 'string') return payload.byteLength > limit ? payload.byteLength : undefined
  if (payload.length * 3 <= limit) return undefined
  const size = Buffer.byteLength(payload)
  return size > limit ? size : undefined
}

/**
 * The wire pipeline, one per instance and channel, with no framework in it. Outgoing: envelope (sender and
 * number), serialize, seal, size check. Incoming: size check, open, deserialize, shape check, own echo,
 * then one {@link SequenceWindow} per sender for both duplicates and replays.
 */
export class Codec {
  /** The serializer; a feathers-sync style custom adapter may set its own before traffic flows. */
  serializer: Serializer = json
  private readonly window: SequenceWindow
  private readonly sealer: Sealer | undefined
  private seq = 0

  constructor(
    private readonly options: CodecOptions,
    private readonly drop: DropSink
  ) {
    if (options.secrets === undefined) {
      this.window = new SequenceWindow()
      this.sealer = undefined
    } else {
      const { maxMessageAgeMs } = checkSecurityOptions(options)
      // Signed frames older than twice the age limit are refused anyway: their senders may be forgotten.
      this.window = new SequenceWindow({ idleMs: 2 * maxMessageAgeMs })
      this.sealer = new Sealer(options, options.channel, this.window)
    }
  }

  /** Stamps, encodes and seals a message; undefined (counted and reported) when it cannot travel. */
  encode(
    message: Message,
    what = describeMessage(message.path, message.event)
  ): { envelope: Envelope; payload: Payload } | undefined {
    const { instanceId, maxMessageBytes } = this.options
    const id = this.seq + 1
    const envelope: Envelope = {
      event: message.event,
      path: message.path,
      data: message.data,
      context: message.context,
      v: ENVELOPE_VERSION,
      sender: instanceId,
      id,
      t: Date.now()
    }
    if (message.trace !== undefined) envelope.trace = message.trace
    let payload: Payload
    try {
      payload = this.serializer.serialize(envelope)
      if (this.sealer) payload = this.sealer.seal(payload, instanceId, id)
    } catch (cause) {
      this.drop('serializeFailed', new SyncSerializationError(message.path, message.event, { cause }))
      return undefined
    }
    const size = overLimit(payload, maxMessageBytes)
    if (size !== undefined) {
      this.drop('oversize', new SyncOversizeError(size, maxMessageBytes, what))
      return undefined
    }
    // Numbered only once it can travel, so a receiver sees no hole for a message that never left.
    this.seq = id
    return { envelope, payload }
  }

  /** Gives a frame that waited in the outbox a fresh signature time; identity without `secrets`. */
  refresh(payload: Payload): Payload {
    return this.sealer ? this.sealer.reseal(payload) : payload
  }

  /**
   * Checks and decodes an incoming payload under the mode's policy. Returns the envelope and whether this
   * instance sent it, or undefined when it was dropped (counted, and reported unless routine).
   */
  decode(raw: Payload, mode: DeliveryMode = 'broadcast'): { envelope: Envelope; own: boolean } | undefined {
    const policy = POLICIES[mode]
    const { instanceId, keepOwn } = this.options
    const unpacked = this.unpack(raw, policy.checkAge, this.drop)
    if (!unpacked) return undefined
    const { envelope, signed } = unpacked
    const own = envelope.sender === instanceId
    // A group member may be the sender, and a redelivery must reach the handler again.
    if (mode === 'group') return { envelope, own }
    if (own && !keepOwn) {
      this.drop('ownEcho')
      return undefined
    }
    if (!this.firstTime(envelope, signed, policy)) return undefined
    return { envelope, own }
  }

  /**
   * Decodes a message read back from a durable log for a replay: size, signature (without the age
   * limit), serializer and shape are checked, but neither the duplicate window nor the own-echo rule
   * applies, and nothing is counted (live delivery counted it already). Undefined when it fails a check.
   */
  readStored(raw: Payload): Envelope | undefined {
    return this.unpack(raw, false, () => undefined)?.envelope
  }

  private unpack(
    raw: Payload,
    checkAge: boolean,
    drop: DropSink
  ): { envelope: Envelope; signed: { sender: string; seq: number } | undefined } | undefined {
    const { maxMessageBytes } = this.options
    const size = overLimit(raw, maxMessageBytes)
    if (size !== undefined) {
      const text = new SyncOversizeError(size, maxMessageBytes, 'An incoming message').message
      drop('oversize', new SyncMessageError('oversize', text))
      return undefined
    }
    let payload = raw
    let signed: { sender: string; seq: number } | undefined
    if (this.sealer) {
      const opened = this.sealer.open(raw, Date.now(), false, checkAge)
      if ('refused' in opened) {
        drop(opened.refused, new SyncMessageError(opened.refused, `Dropped a message: ${opened.why}`))
        return undefined
      }
      payload = opened.body
      signed = opened
    }
    let message: unknown
    try {
      message = this.serializer.deserialize(payload)
    } catch (cause) {
      drop(
        'undecodable',
        new SyncMessageError('undecodable', 'Could not decode an incoming message', { cause })
      )
      return undefined
    }
    const problem = envelopeProblem(message)
    if (problem) {
      drop('shape', new SyncMessageError('shape', `Dropped a malformed message: ${problem}`))
      return undefined
    }
    return { envelope: message as Envelope, signed }
  }

  /**
   * The one duplicate and replay filter. A signed frame is judged by the sender and number it was sealed
   * with (authenticated); anything else by the envelope's. A repeat is counted, never reported: an
   * adapter's resend after a reconnect cannot be told from a replay.
   */
  private firstTime(
    envelope: Envelope,
    signed: { sender: string; seq: number } | undefined,
    policy: DeliveryPolicy
  ): boolean {
    if (signed) {
      if (!Number.isSafeInteger(signed.seq) || signed.seq < 0) {
        const why = `message number ${signed.seq} cannot be checked for replay`
        this.drop('replayed', new SyncMessageError('replayed', `Dropped a message: ${why}`))
        return false
      }
      if (this.window.add(signed.sender, signed.seq, Date.now()))
        return this.counted(envelope, signed.seq, policy)
      this.drop(policy.repeat)
      return false
    }
    if (envelope.sender === undefined || envelope.id === undefined) return true
    if (this.window.add(envelope.sender, envelope.id)) return this.counted(envelope, envelope.id, policy)
    this.drop('duplicate')
    return false
  }

  /** Reports the sender's numbers that message `id` jumped over, where the mode counts them; true. */
  private counted(envelope: Envelope, id: number, policy: DeliveryPolicy): true {
    const missed = this.window.skipped
    if (missed === 0 || !policy.countMissed) return true
    const numbers = missed === 1 ? `number ${id - 1}` : `numbers ${id - missed} to ${id - 1}`
    const text =
      `Missed ${missed} message${missed === 1 ? '' : 's'} from instance ${String(envelope.sender)} (${numbers}): ` +
      'never arrived (this instance was not subscribed or the broker cut it off, or the publish failed at the sender); ' +
      'pub/sub keeps nothing to send again'
    this.drop('missed', new SyncMessageError('missed', text), missed)
    return true
  }
}
