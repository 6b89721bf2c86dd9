/**
 * Consumer groups on NATS JetStream at the adapter level (plain callbacks, no engine): one durable pull
 * consumer per group on the channel's stream. The shared server for most cases; a TCP gate to cut one
 * member's connection; a private server (-js -sd <its temp dir>) killed with SIGKILL and restarted.
 */
import type { GroupLog } from '../src/adapter'
import { SyncConfigError } from '../src/errors'
import { parseOptions } from '../src/engine/options'
import { createNatsAdapter } from '../adapters/nats'
import { startNats, type BrokerHandle } from './brokers'
import { uniqueKey, waitFor } from './helpers/apps'
import {
  closeProbes,
  describeProbe,
  follow,
  last,
  open,
  publishAll,
  type Probe
} from './helpers/durable-nats'
import { startGate, type Gate } from './helpers/gate'
import { counts, describeMembers, join, numbered, textsOf, waitAllGot, type Member } from './helpers/groups'

jest.setTimeout(60_000)

const shared = process.env.FANOUT_NATS_URL
if (!shared) throw new Error('FANOUT_NATS_URL is not set: run with FANOUT_BROKERS including nats')
const sharedPort = Number(new URL(shared).port)

let brokers: BrokerHandle[] = []
let gates: Gate[] = []

afterEach(async () => {
  await closeProbes()
  await Promise.all(gates.map((gate) => gate.close()))
  await Promise.all(brokers.map((broker) => broker.stop()))
  gates = []
  brokers = []
})

function groupLog(probe: Probe): GroupLog {
  if (!probe.adapter.capabilities?.group) throw new Error(`${probe.name} has no group capability`)
  return probe.adapter as unknown as GroupLog
}

/** An instance as the engine runs it: durable subscription at the tail (which makes it report ready). */
async function instance(name: string, uri: string, key: string): Promise<Probe> {
  const probe = await open(name, uri, key)
  await follow(probe, { kind: 'tail' })
  return probe
}

/** `count` adapters on `uri`, each one member of `group`. */
async function members(uri: string, key: string, group: string, count: number, prefetch = 10) {
  const joined: Member[] = []
  for (let i = 0; i < count; i++) {
    const probe = await instance(`member ${i}`, uri, key)
    joined.push(await join(groupLog(probe), group, `m${i}`, { claimAfterMs: 1_000, prefetch }))
  }
  return joined
}

describe('nats groups on the shared server', () => {
  it('says it has groups in durable mode only', () => {
    const uri = shared as string
    const key = uniqueKey('ng')
    expect(createNatsAdapter(parseOptions({ uri, key, durable: true })).capabilities).toEqual({
      broadcast: true,
      durable: true,
      group: true
    })
    expect(createNatsAdapter(parseOptions({ uri, key })).capabilities?.group).toBeFalsy()
  })

  it('hands each message to one member of a group of 3, spread over them', async () => {
    const key = uniqueKey('ng-once')
    const group = await members(shared as string, key, 'mailer', 3, 5)
    const publisher = await instance('publisher', shared as string, key)
    const sent = numbered('m', 300)
    await Promise.all(sent.map((text) => publisher.adapter.publishDurable(text)))
    await waitAllGot(group, sent)
    const seen = counts(group)
    expect([...seen.values()].filter((count) => count !== 1)).toEqual([])
    expect(seen.size).toBe(sent.length)
    expect(group.map((member) => member.got.length > 0)).toEqual([true, true, true])
    expect(group.flatMap((member) => member.got.map((entry) => entry.deliveries))).not.toContain(2)
  })

  it('starts a new group at the tail, and gives two groups every message each', async () => {
    const key = uniqueKey('ng-two')
    const publisher = await instance('publisher', shared as string, key)
    await publishAll(publisher, numbered('before', 5))
    const mailers = await members(shared as string, key, 'mailer', 2)
    const history = await members(shared as string, key, 'history', 1)
    const sent = numbered('m', 50)
    await publishAll(publisher, sent)
    await waitAllGot(mailers, sent)
    await waitAllGot(history, sent)
    expect([...counts(mailers).keys()].sort()).toEqual([...sent].sort())
    expect(textsOf(history[0])).toEqual(sent)
  })

  it('redelivers what a member held when it left, to another member after claimAfterMs, as delivery 2', async () => {
    const key = uniqueKey('ng-left')
    const quitter = await instance('quitter', shared as string, key)
    const leaving = await join(groupLog(quitter), 'mailer', 'q', { claimAfterMs: 1_000, prefetch: 3 }, 'hold')
    const publisher = await instance('publisher', shared as string, key)
    await publishAll(publisher, numbered('m', 3))
    await waitFor(`the quitter to hold 3 (${describeMembers([leaving])})`, () => leaving.held() === 3)
    const [stayer] = await members(shared as string, key, 'mailer', 1)
    const left = Date.now()
    await leaving.membership.leave()
    await waitAllGot([stayer], numbered('m', 3))
    const taken = stayer.got.filter((entry) => entry.text.startsWith('m-'))
    expect(taken.map((entry) => entry.deliveries)).toEqual([2, 2, 2])
    expect(Math.min(...taken.map((entry) => entry.at)) - left).toBeGreaterThanOrEqual(500)
  })

  it('redelivers what a member held when its connection was cut, after claimAfterMs, as delivery 2', async () => {
    const key = uniqueKey('ng-cut')
    const gate = await startGate(sharedPort)
    gates.push(gate)
    const cut = await instance('cut member', `nats://127.0.0.1:${gate.port}`, key)
    const holder = await join(groupLog(cut), 'mailer', 'c', { claimAfterMs: 1_000, prefetch: 2 }, 'hold')
    const publisher = await instance('publisher', shared as string, key)
    await publishAll(publisher, numbered('m', 2))
    await waitFor(`the cut member to hold 2 (${describeMembers([holder])})`, () => holder.held() === 2)
    const [other] = await members(shared as string, key, 'mailer', 1)
    gate.block()
    gate.cut()
    await waitFor(
      `the cut member to notice (${describeProbe(cut)})`,
      () => last(cut.statuses) === 'reconnecting'
    )
    await waitAllGot([other], numbered('m', 2))
    expect(other.got.map((entry) => entry.deliveries)).toEqual([2, 2])
    // Let through again, the cut member is a member again by itself. What it held counted against its
    // prefetch until its handler is done with it: here it finishes late and acks (the group already
    // handled them: at least once).
    gate.open()
    await waitFor(`the cut member ready (${describeProbe(cut)})`, () => last(cut.statuses) === 'ready')
    await Promise.allSettled(holder.got.map((entry) => entry.message.ack()))
    const after = numbered('after', 40)
    await publishAll(publisher, after)
    await waitAllGot([holder, other], after)
    expect(holder.got.some((entry) => entry.text.startsWith('after-'))).toBe(true)
  })

  it('redelivers a nacked message after the delay asked for, as delivery 2', async () => {
    const key = uniqueKey('ng-nack')
    const probe = await instance('member', shared as string, key)
    const member = await join(groupLog(probe), 'mailer', 'n', { claimAfterMs: 30_000, prefetch: 5 }, 'hold')
    const publisher = await instance('publisher', shared as string, key)
    await publishAll(publisher, ['once'])
    await waitFor(`the first delivery (${describeMembers([member])})`, () => member.got.length === 1)
    const nacked = Date.now()
    await member.got[0].message.nack(600)
    await waitFor(`the redelivery (${describeMembers([member])})`, () => member.got.length === 2)
    expect(member.got[1]).toMatchObject({ text: 'once', deliveries: 2, position: member.got[0].position })
    expect(member.got[1].at - nacked).toBeGreaterThanOrEqual(500)
    await member.got[1].message.ack()
    await member.got[0].message.nack(0)
    await publishAll(publisher, ['next'])
    await waitFor(`the next one (${describeMembers([member])})`, () => textsOf(member).includes('next'))
    expect(textsOf(member)).toEqual(['once', 'once', 'next'])
  })

  it('never hands a member more than prefetch unacknowledged', async () => {
    const key = uniqueKey('ng-prefetch')
    const probe = await instance('slow member', shared as string, key)
    const slow = await join(groupLog(probe), 'mailer', 's', { claimAfterMs: 30_000, prefetch: 4 }, 'hold')
    const publisher = await instance('publisher', shared as string, key)
    const sent = numbered('m', 30)
    await publishAll(publisher, sent)
    await waitFor(`the slow member to hold 4 (${describeMembers([slow])})`, () => slow.held() === 4)
    const [fast] = await members(shared as string, key, 'mailer', 1, 100)
    // The fast member takes all the others while the slow one still holds its 4 and got nothing more.
    await waitAllGot([slow, fast], sent)
    expect(slow.got).toHaveLength(4)
    expect(fast.got).toHaveLength(26)
    await slow.got[0].message.ack()
    await publishAll(publisher, numbered('more', 20))
    await waitAllGot([slow, fast], numbered('more', 20))
    expect(slow.held()).toBeLessThanOrEqual(4)
  })

  it('refuses a bad group, member or option with a typed error naming it', async () => {
    const probe = await instance('member', shared as string, uniqueKey('ng-bad'))
    const log = groupLog(probe)
    const options = { claimAfterMs: 1_000, prefetch: 10 }
    await expect(log.joinGroup('', 'm', options, () => undefined)).rejects.toThrow(SyncConfigError)
    await expect(log.joinGroup('g', '', options, () => undefined)).rejects.toMatchObject({ option: 'member' })
    await expect(log.joinGroup('g', 'm', { ...options, prefetch: 0 }, () => undefined)).rejects.toMatchObject(
      { option: 'prefetch' }
    )
    await expect(
      log.joinGroup('g', 'm', { ...options, claimAfterMs: 1.5 }, () => undefined)
    ).rejects.toMatchObject({ option: 'claimAfterMs' })
  })
})

describe('nats groups: the server killed and restarted on its store', () => {
  it('keeps the unacknowledged ones and hands them over again; the member goes on by itself', async () => {
    const broker = await startNats({ jetstream: true })
    brokers.push(broker)
    const key = uniqueKey('ng-kill')
    const probe = await instance('member', broker.url, key)
    const member = await join(groupLog(probe), 'mailer', 'k', { claimAfterMs: 1_000, prefetch: 50 }, 'hold')
    const publisher = await instance('publisher', broker.url, key)
    const sent = numbered('m', 20)
    await publishAll(publisher, sent)
    await waitFor(`the member to hold 20 (${describeMembers([member])})`, () => member.held() === 20)
    // Half acknowledged (confirmed by the server), half left unacknowledged.
    await Promise.all(member.got.slice(0, 10).map((entry) => entry.message.ack()))
    await broker.kill('SIGKILL')
    await broker.restart()
    await waitFor(
      `the member and the publisher ready (${describeProbe(probe)}; ${describeProbe(publisher)})`,
      () => last(probe.statuses) === 'ready' && last(publisher.statuses) === 'ready',
      30_000
    )
    // Every unacknowledged one comes again. nats-server 2.9 writes a consumer's state (acks, delivery
    // counts) to its store asynchronously: acks confirmed just before the kill can be lost, so those
    // come again too (at least once), and delivery counts the store had not written start over at 1.
    const unacked = sent.slice(10)
    await waitFor(
      `the unacknowledged 10 again (${describeMembers([member])})`,
      () => unacked.every((text) => member.got.slice(20).some((entry) => entry.text === text)),
      30_000
    )
    const again = member.got.slice(20)
    expect(again.map((entry) => entry.text).filter((text) => !sent.includes(text))).toEqual([])
    const counted = again.map((entry) => entry.deliveries).join(',')
    console.log(
      `after kill -9: ${again.length} delivered again (${again.length - 10} acked before), deliveries ${counted}`
    )
    await Promise.all(again.map((entry) => entry.message.ack()))
    const after = numbered('after', 5)
    await waitFor(
      `the publisher ready (${describeProbe(publisher)})`,
      () => last(publisher.statuses) === 'ready'
    )
    await publishAll(publisher, after)
    await waitAllGot([member], after)
    expect(member.got.filter((entry) => entry.text.startsWith('after-')).map((e) => e.text)).toEqual(after)
  })
})
