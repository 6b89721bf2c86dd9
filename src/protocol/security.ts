import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual
} from 'node:crypto'
import { SyncConfigError } from '../errors'
import type { Payload } from './serializers'
import { SequenceWindow } from './window'

/** Message authentication and encryption. See docs/security.md for the threat model. */
export interface SecurityOptions {
  /**
   * Shared secrets, newest first: the first signs (and encrypts) what this instance sends, every one
   * verifies what arrives, so a key can be rotated without downtime. Each at least 32 bytes.
   */
  secrets?: readonly (string | Uint8Array)[]
  /** Also encrypt every message with AES-256-GCM. Needs `secrets`. @default false */
  encrypt?: boolean
  /** Oldest message accepted, and the most clock skew tolerated between instances. @default 30_000 */
  maxMessageAgeMs?: number
}

/** Why a sealed message was refused. */
export type Refusal = 'unauthenticated' | 'stale' | 'replayed'

/** An accepted frame's body with the sender and number it was sealed with, or why it was refused. */
export type Opened = { body: Buffer; sender: string; seq: number } | { refused: Refusal; why: string }

const MAGIC = Buffer.from('FFo1')
const HEADER = 49 // magic 4, flags 1, key id 8, time 8, sender 8, sequence 8, iv 12
const MAC = 32
const TAG = 16
const ENCRYPTED = 1
const NOT_SIGNED: Opened = { refused: 'unauthenticated', why: 'message is not signed' }

interface Key {
  id: Buffer
  mac: Buffer
  enc: Buffer
}

/** Oldest signed message accepted by default, in ms. */
export const DEFAULT_MAX_MESSAGE_AGE_MS = 30_000

/**
 * Checks the security options without deriving keys, naming the bad one; returns them with defaults.
 * @throws SyncConfigError for an empty `secrets`, a secret that is not text or bytes or is under 32 bytes,
 * or a `maxMessageAgeMs` that is not a positive number
 */
export function checkSecurityOptions(options: SecurityOptions): Required<SecurityOptions> {
  const { secrets = [], encrypt = false, maxMessageAgeMs = DEFAULT_MAX_MESSAGE_AGE_MS } = options
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new SyncConfigError('secrets', 'Option "secrets" must be a non-empty array of secrets')
  }
  if (typeof maxMessageAgeMs !== 'number' || !Number.isFinite(maxMessageAgeMs) || maxMessageAgeMs <= 0) {
    throw new SyncConfigError('maxMessageAgeMs', `Option "maxMessageAgeMs" must be a positive number`)
  }
  secrets.forEach(checkSecret)
  return { secrets, encrypt, maxMessageAgeMs }
}

function checkSecret(secret: unknown, index: number): void {
  if (typeof secret !== 'string' && !ArrayBuffer.isView(secret)) {
    // e.g. `secrets: [process.env.SYNC_SECRET]` with the variable unset.
    throw new SyncConfigError(
      `secrets[${index}]`,
      `Option "secrets[${index}]" must be a string or bytes, got ${secret === null ? 'null' : typeof secret}`
    )
  }
  const length = (bytesOf(secret as Payload) as Buffer).length
  if (length < 32) {
    throw new SyncConfigError(
      `secrets[${index}]`,
      `Option "secrets[${index}]" must be at least 32 bytes, got ${length}`
    )
  }
}

function deriveKey(secret: string | Uint8Array, index: number, channel: string): Key {
  const raw = Buffer.from(bytesOf(secret) as Buffer)
  // The channel is part of every key, so a frame copied from another channel that shares the
  // secret is refused (unknown key) instead of replayed there. Hashed: HKDF's info is bounded.
  const context = createHash('sha256').update(channel).digest('hex')
  const derive = (info: string) =>
    Buffer.from(hkdfSync('sha256', raw, 'feathers-fanout', `${info}:${context}`, 32))
  return { id: derive('key id').subarray(0, 8), mac: derive('mac'), enc: derive('enc') }
}

/** The bytes of a payload without copying, or undefined for anything that is neither text nor bytes. */
function bytesOf(payload: unknown): Buffer | undefined {
  if (typeof payload === 'string') return Buffer.from(payload)
  if (!ArrayBuffer.isView(payload)) return undefined
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
}

const isFrame = (frame: Buffer | undefined): frame is Buffer =>
  frame !== undefined && frame.length >= HEADER + TAG && frame.subarray(0, 4).equals(MAGIC)

/** Signs (and optionally encrypts) outgoing payloads and checks incoming ones. */
export class Sealer {
  private readonly keys: Key[]
  private readonly encrypt: boolean
  readonly maxAgeMs: number
  private readonly replays: SequenceWindow

  /**
   * `channel`: the `key` the fleet talks on; frames sealed for another channel are refused. `window`: where
   * seen message numbers are kept (shared with the duplicate filter by the codec); by default one that
   * forgets a sender idle for twice `maxMessageAgeMs`, when its old frames are stale anyway.
   */
  constructor(options: SecurityOptions, channel = '', window?: SequenceWindow) {
    const { secrets, encrypt, maxMessageAgeMs } = checkSecurityOptions(options)
    this.keys = secrets.map((secret, index) => deriveKey(secret, index, channel))
    this.encrypt = encrypt
    this.maxAgeMs = maxMessageAgeMs
    this.replays = window ?? new SequenceWindow({ idleMs: 2 * maxMessageAgeMs })
  }

  /** Wraps a payload in a signed (or encrypted) frame carrying sender, sequence and time. */
  seal(payload: Payload, sender: string, seq: number, now = Date.now()): Buffer {
    const key = this.keys[0]
    // Zeroed: a sender id that is not 16 hex digits must not leave stray memory in the header.
    const header = Buffer.alloc(HEADER)
    MAGIC.copy(header, 0)
    header[4] = this.encrypt ? ENCRYPTED : 0
    key.id.copy(header, 5)
    header.writeDoubleBE(now, 13)
    header.write(sender.padEnd(16, '0').slice(0, 16), 21, 8, 'hex')
    header.writeDoubleBE(seq, 29)
    randomBytes(12).copy(header, 37)
    const body = bytesOf(payload) as Buffer
    if (!this.encrypt) {
      const mac = createHmac('sha256', key.mac).update(header).update(body).digest()
      return Buffer.concat([header, body, mac])
    }
    const cipher = createCipheriv('aes-256-gcm', key.enc, header.subarray(37, 49))
    cipher.setAAD(header)
    return Buffer.concat([header, cipher.update(body), cipher.final(), cipher.getAuthTag()])
  }

  /**
   * Checks a frame: key, signature or tag, then (each optional) age and replay. Returns the inner
   * payload or why it was refused; never throws, whatever arrives. Durable delivery hands over old
   * messages on purpose, so it opens with `checkAge` off (see the delivery policy in codec.ts).
   */
  open(payload: Payload, now = Date.now(), checkReplay = true, checkAge = true): Opened {
    const frame = bytesOf(payload)
    if (!isFrame(frame)) return NOT_SIGNED
    try {
      return this.check(frame, now, checkReplay, checkAge)
    } catch {
      return { refused: 'unauthenticated', why: 'message is not a valid frame' }
    }
  }

  /** Re-signs a frame this instance sealed earlier with a fresh time, for messages that waited in the outbox. */
  reseal(payload: Payload, now = Date.now()): Payload {
    const frame = bytesOf(payload)
    // Anything else a `sync-out` listener queued goes out as it is; this must never throw into a flush.
    if (!isFrame(frame)) return payload
    const sentAt = frame.readDoubleBE(13)
    if (now - sentAt < this.maxAgeMs / 2) return payload
    const opened = this.open(frame, sentAt, false)
    if (!('body' in opened)) return payload
    return this.seal(opened.body, frame.toString('hex', 21, 29), frame.readDoubleBE(29), now)
  }

  private check(frame: Buffer, now: number, checkReplay: boolean, checkAge: boolean): Opened {
    const header = frame.subarray(0, HEADER)
    const id = header.subarray(5, 13)
    const candidates = this.keys.filter((candidate) => candidate.id.equals(id))
    if (candidates.length === 0)
      return { refused: 'unauthenticated', why: 'message is signed with an unknown key' }
    // Ids are 64 bits of HKDF output: two secrets sharing one is unlikely, but each is tried.
    let body: Buffer | undefined
    for (let i = 0; body === undefined && i < candidates.length; i++)
      body = this.authenticate(frame, header, candidates[i])
    if (!body) return { refused: 'unauthenticated', why: 'signature does not match' }
    const age = now - header.readDoubleBE(13)
    // NaN or infinite times fail this comparison too.
    if (checkAge && !(Math.abs(age) <= this.maxAgeMs)) {
      return { refused: 'stale', why: `message is ${Math.round(age)} ms old, outside ±${this.maxAgeMs} ms` }
    }
    const sender = header.toString('hex', 21, 29)
    const seq = header.readDoubleBE(29)
    if (!checkReplay) return { body, sender, seq }
    // Only a secret holder can sign one, but a fractional, negative or huge number would break the window.
    if (!Number.isSafeInteger(seq) || seq < 0) {
      return { refused: 'replayed', why: `message number ${seq} cannot be checked for replay` }
    }
    if (!this.replays.add(sender, seq, now)) {
      return { refused: 'replayed', why: 'message was seen already' }
    }
    return { body, sender, seq }
  }

  private authenticate(frame: Buffer, header: Buffer, key: Key): Buffer | undefined {
    if (header[4] & ENCRYPTED) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key.enc, header.subarray(37, 49))
        decipher.setAAD(header)
        decipher.setAuthTag(frame.subarray(frame.length - TAG))
        return Buffer.concat([decipher.update(frame.subarray(HEADER, frame.length - TAG)), decipher.final()])
      } catch {
        return undefined
      }
    }
    if (frame.length < HEADER + MAC) return undefined
    const body = frame.subarray(HEADER, frame.length - MAC)
    const expected = createHmac('sha256', key.mac).update(header).update(body).digest()
    return timingSafeEqual(expected, frame.subarray(frame.length - MAC)) ? body : undefined
  }
}
