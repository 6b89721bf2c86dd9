/**
 * A benchmark child process (a `cluster` worker): one app instance or bare client, driven over IPC by
 * the orchestrator (bench/index.ts). It answers each command and says `done` when a phase completes.
 */
import { bareAmqp } from './members/bare-amqp'
import { bareCluster } from './members/bare-cluster'
import { bareNats } from './members/bare-nats'
import { bareRedis } from './members/bare-redis'
import {
  fanout,
  fanoutBatch,
  fanoutDurable,
  fanoutDurableBatch,
  fanoutLean,
  feathersSyncMember
} from './members/feathers'
import type { Member, MemberFactory } from './members/types'
import {
  CONFIG_ENV,
  isBench,
  type ChildConfig,
  type ChildMessage,
  type Command,
  type ParentMessage,
  type Transport
} from './protocol'
import { Receiver } from './receiver'
import { atRate, burst, makeRecord } from './workload'

const BARE: Record<Transport, MemberFactory> = {
  redis: bareRedis,
  amqp: bareAmqp,
  nats: bareNats,
  cluster: bareCluster
}

const tell = (message: ChildMessage): void => {
  process.send?.(message)
}

async function run(command: Command, member: Member, receiver: Receiver): Promise<unknown> {
  switch (command.cmd) {
    case 'expect':
      return receiver.expect(command.phase, command.count, command.doneAfter)
    case 'probe':
      return member.send(makeRecord(command.phase, command.seq, command.size))
    case 'burst':
      return burst(member.send, command.phase, command.count, command.size)
    case 'rate':
      return atRate(member.send, command.phase, command.count, command.perSecond, command.size)
    case 'report':
      return receiver.report(command.latencies)
    case 'exit':
      // The reply goes out first; the process has nothing to flush.
      setImmediate(() => process.exit(0))
      return undefined
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env[CONFIG_ENV] ?? '{}') as ChildConfig
  const receiver = new Receiver((phase) => tell({ bench: 'done', phase }))
  const factory =
    config.impl === 'fanout'
      ? fanout
      : config.impl === 'fanout-lean'
        ? fanoutLean
        : config.impl === 'fanout-durable'
          ? fanoutDurable
          : config.impl === 'fanout-batch'
            ? fanoutBatch
            : config.impl === 'fanout-durable-batch'
              ? fanoutDurableBatch
              : config.impl === 'feathers-sync'
                ? feathersSyncMember
                : BARE[config.transport]
  const member = await factory(config, receiver.receive)
  if (member.health) receiver.health = member.health
  process.on('message', (message: unknown) => {
    if (!isBench(message) || message.bench !== 'cmd') return
    const { id, ...command } = message as ParentMessage
    run(command as Command, member, receiver).then(
      (value) => tell({ bench: 'reply', id, value: value ?? null }),
      (error: unknown) => tell({ bench: 'reply', id, error: String(error) })
    )
  })
  tell({ bench: 'ready' })
}

main().catch((error: unknown) => {
  tell({ bench: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) })
})
