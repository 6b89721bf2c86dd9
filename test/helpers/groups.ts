/** Adapter-level consumer group probes, shared by the per-broker group test files (plain callbacks). */
import type { GroupLog, GroupMembership, GroupMessage, GroupOptions } from '../../src/adapter'
import { waitFor } from './apps'

/** One message a member got, with the message itself so a test can ack or nack it later. */
export interface Got {
  text: string
  position: string | undefined
  deliveries: number
  at: number
  message: GroupMessage
}

/** A member and everything it got. */
export interface Member {
  name: string
  got: Got[]
  membership: GroupMembership
  /** Messages handed over and not yet acked or nacked by the test. */
  held(): number
  /** Acks (made by `ack` handling) that failed. */
  ackErrors: Error[]
}

export type Handling = 'ack' | 'hold'

/**
 * Joins `group` as `name`. With `ack` every message is acknowledged as it comes; with `hold` the test
 * decides (message.ack() / nack()).
 */
export async function join(
  log: GroupLog,
  group: string,
  name: string,
  options: GroupOptions,
  handling: Handling = 'ack'
): Promise<Member> {
  const got: Got[] = []
  const ackErrors: Error[] = []
  let settled = 0
  const track = (message: GroupMessage): GroupMessage => ({
    ...message,
    ack: () => (settled++, message.ack()),
    nack: (delayMs) => (settled++, message.nack(delayMs))
  })
  const membership = await log.joinGroup(group, name, options, (message) => {
    const tracked = track(message)
    got.push({
      text: Buffer.from(message.payload).toString(),
      position: message.position,
      deliveries: message.deliveries,
      at: Date.now(),
      message: tracked
    })
    if (handling === 'ack') tracked.ack().catch((cause: Error) => ackErrors.push(cause))
  })
  return { name, got, membership, held: () => got.length - settled, ackErrors }
}

export const textsOf = (member: Member): string[] => member.got.map((entry) => entry.text)

/** What a failing group test says about its members. */
export const describeMembers = (members: Member[]): string =>
  members
    .map(
      (member) =>
        `${member.name}: ${member.got.length} got, ${member.held()} held, deliveries ` +
        `[${member.got.map((entry) => entry.deliveries).join(',')}]`
    )
    .join('; ')

/** Every text the members got, counted. */
export function counts(members: Member[]): Map<string, number> {
  const seen = new Map<string, number>()
  for (const member of members) {
    for (const { text } of member.got) seen.set(text, (seen.get(text) ?? 0) + 1)
  }
  return seen
}

/** Waits until the members together got every one of `texts` (and reports who has what if not). */
export function waitAllGot(members: Member[], texts: string[], timeoutMs?: number): Promise<void> {
  return waitFor(
    `all ${texts.length} at the group (${describeMembers(members)})`,
    () => {
      const seen = counts(members)
      return texts.every((text) => seen.has(text))
    },
    timeoutMs
  )
}

export const numbered = (prefix: string, count: number, from = 0): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}-${from + i}`)
