import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual
} from 'node:crypto'
import { SyncConfigError } from './errors'
import type { Payload } from './serializers'

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

export type Opened = { body: Buffer } | { refused: Refusal; why: string }

const MAGIC = Buffer.from('FFo1')
const HEADER = 49 // magic 4, flags 1, key id 8, time 8, sender 8, sequence 8, iv 12
const MAC = 32
const TAG = 16
const ENCRYPTED = 1
const REPLAY_WINDOW = 1024
const MAX_SENDERS = 10_000

interface Key {
  id: Buffer
  mac: Buffer
  enc: Buffer
}

function deriveKey(secret: string | Uint8Array, index: number): Key {
  const raw = typeof secret === 'string' ? Buffer.from(secret) : Buffer.from(secret)
  if (raw.length < 32) {
    throw new SyncConfigError(
      `secrets[${index}]`,
      `Option "secrets[${index}]" must be at least 32 bytes, got ${raw.length}`
    )
  }
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', raw, 'feathers-fanout', info, 32))
  return { id: derive('key id').subarray(0, 8), mac: derive('mac'), enc: derive('enc') }
}

/** Remembers, per sender, which recent sequence numbers were seen (a sliding window, as in IPsec). */
class ReplayGuard {
  private readonly senders = new Map<string, { highest: number; seen: Set<number> }>()

  /** Records the message; false when it was seen already or is older than the window. */
  accept(sender: string, seq: number): boolean {
    let entry = this.senders.get(sender)
    if (!entry) {
      if (this.senders.size >= MAX_SENDERS) this.senders.delete(this.senders.keys().next().value as string)
      this.senders.set(sender, (entry = { highest: seq, seen: new Set([seq]) }))
      return true
    }
    if (seq <= entry.highest - REPLAY_WINDOW || entry.seen.has(seq)) return false
    entry.seen.add(seq)
    if (seq > entry.highest) {
      entry.highest = seq
      for (const old of entry.seen) if (old <= seq - REPLAY_WINDOW) entry.seen.delete(old)
    }
    return true
  }
}

/** Signs (and optionally encrypts) outgoing payloads and checks incoming ones. */
export class Sealer {
  private readonly keys: Key[]
  private readonly encrypt: boolean
  readonly maxAgeMs: number
  private readonly replays = new ReplayGuard()

  constructor(options: SecurityOptions) {
    const { secrets = [], encrypt = false, maxMessageAgeMs = 30_000 } = options
    if (!Array.isArray(secrets) || secrets.length === 0) {
      throw new SyncConfigError('secrets', 'Option "secrets" must be a non-empty array of secrets')
    }
    if (!Number.isFinite(maxMessageAgeMs) || maxMessageAgeMs <= 0) {
      throw new SyncConfigError('maxMessageAgeMs', `Option "maxMessageAgeMs" must be a positive number`)
    }
    this.keys = secrets.map(deriveKey)
    this.encrypt = encrypt
    this.maxAgeMs = maxMessageAgeMs
  }

  /** Wraps a payload in a signed (or encrypted) frame carrying sender, sequence and time. */
  seal(payload: Payload, sender: string, seq: number, now = Date.now()): Buffer {
    const key = this.keys[0]
    const header = Buffer.allocUnsafe(HEADER)
    MAGIC.copy(header, 0)
    header[4] = this.encrypt ? ENCRYPTED : 0
    key.id.copy(header, 5)
    header.writeDoubleBE(now, 13)
    header.write(sender.padEnd(16, '0').slice(0, 16), 21, 8, 'hex')
    header.writeDoubleBE(seq, 29)
    randomBytes(12).copy(header, 37)
    const body =
      typeof payload === 'string'
        ? Buffer.from(payload)
        : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    if (!this.encrypt) {
      const mac = createHmac('sha256', key.mac).update(header).update(body).digest()
      return Buffer.concat([header, body, mac])
    }
    const cipher = createCipheriv('aes-256-gcm', key.enc, header.subarray(37, 49))
    cipher.setAAD(header)
    const encrypted = Buffer.concat([header, cipher.update(body), cipher.final(), cipher.getAuthTag()])
    return encrypted
  }

  /** Checks a frame: key, signature or tag, age and replay. Returns the inner payload or why it was refused. */
  open(payload: Payload, now = Date.now(), checkReplay = true): Opened {
    const frame =
      typeof payload === 'string'
        ? Buffer.from(payload)
        : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    if (frame.length < HEADER + TAG || !frame.subarray(0, 4).equals(MAGIC)) {
      return { refused: 'unauthenticated', why: 'message is not signed' }
    }
    const header = frame.subarray(0, HEADER)
    const key = this.keys.find((candidate) => candidate.id.equals(header.subarray(5, 13)))
    if (!key) return { refused: 'unauthenticated', why: 'message is signed with an unknown key' }
    const body = this.authenticate(frame, header, key)
    if (!body) return { refused: 'unauthenticated', why: 'signature does not match' }
    const age = now - header.readDoubleBE(13)
    if (!(Math.abs(age) <= this.maxAgeMs)) {
      return { refused: 'stale', why: `message is ${Math.round(age)} ms old, outside ±${this.maxAgeMs} ms` }
    }
    if (checkReplay && !this.replays.accept(header.toString('hex', 21, 29), header.readDoubleBE(29))) {
      return { refused: 'replayed', why: 'message was seen already' }
    }
    return { body }
  }

  /** Re-signs a frame this instance sealed earlier with a fresh time, for messages that waited in the outbox. */
  reseal(payload: Payload, now = Date.now()): Payload {
    const frame = Buffer.isBuffer(payload) ? payload : Buffer.from(payload as Uint8Array)
    if (now - frame.readDoubleBE(13) < this.maxAgeMs / 2) return payload
    const opened = this.open(frame, frame.readDoubleBE(13), false)
    if (!('body' in opened)) return payload
    return this.seal(opened.body, frame.toString('hex', 21, 29), frame.readDoubleBE(29), now)
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
