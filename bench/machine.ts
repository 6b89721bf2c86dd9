/** A description of the machine a run happened on, read at run time. */
import os from 'node:os'

export interface Machine {
  cpuModel: string
  cores: number
  memoryGb: number
  os: string
  node: string
  /** 1-, 5- and 15-minute load averages when the run started and when it ended. */
  loadStart: number[]
  loadEnd: number[]
  /** Transport → server version, e.g. `redis: 'Redis 7.0.15'`. */
  brokers: Record<string, string>
  date: string
}

export function describeMachine(): Machine {
  const cpus = os.cpus()
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadStart: os.loadavg().map((load) => Math.round(load * 100) / 100),
    loadEnd: [],
    brokers: {},
    date: new Date().toISOString()
  }
}

/** Records the load at the end of the run. */
export function finish(machine: Machine): void {
  machine.loadEnd = os.loadavg().map((load) => Math.round(load * 100) / 100)
}

/** One line, for the console and the docs. */
export const machineLine = (machine: Machine): string =>
  `${machine.cores} × ${machine.cpuModel}, ${machine.memoryGb} GB, ${machine.os}, Node ${machine.node}`
