import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type { BrokerHandle } from './index'
import { ensureBinary } from './install'
import { freePort, LOOPBACK } from './ports'
import { launch, type BrokerSpec } from './process'
import type { BrokerTls } from './tls'

export interface NatsOptions {
  /** Fixed port (needed to reuse a port); by default a free one is picked. */
  port?: number
  /** Enable JetStream with its store in the temp dir; default true. */
  jetstream?: boolean
  readyTimeoutMs?: number
  /** Extra server configuration in nats-server's config-file syntax, e.g. `max_payload: 1024`. */
  config?: string
  /** Require TLS from every client (written into the config file); the url stays `nats://`. */
  tls?: BrokerTls
}

/** nats-server's `tls` block; the server still greets in clear text, then clients upgrade. */
function tlsBlock({ certFile, keyFile, caFile, requireClientCert = false }: BrokerTls): string {
  const quoted = (file: string) => JSON.stringify(file)
  return [
    'tls {',
    `  cert_file: ${quoted(certFile)}`,
    `  key_file: ${quoted(keyFile)}`,
    `  ca_file: ${quoted(caFile)}`,
    `  verify: ${requireClientCert}`,
    '}',
    ''
  ].join('\n')
}

/** A NATS server greets every new client with an `INFO {...}` line once it accepts clients. */
function sendsInfo(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let received = ''
    const socket = net.connect({ host: LOOPBACK, port })
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('error', () => done(false))
    socket.once('close', () => done(false))
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString()
      if (received.includes('\r\n')) done(received.startsWith('INFO '))
    })
  })
}

/** Starts a private nats-server on 127.0.0.1 in a fresh temp dir. */
export async function startNats(options: NatsOptions = {}): Promise<BrokerHandle> {
  const binary = ensureBinary('nats-server', 'nats-server')
  const build = async (): Promise<BrokerSpec> => {
    const port = options.port ?? (await freePort())
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fanout-nats-${port}-`))
    const jetstream = options.jetstream === false ? [] : ['-js', '-sd', path.join(dir, 'jetstream')]
    // nats-server has no command-line flag for most settings (max_payload, auth …): they go in a file.
    const configFile = path.join(dir, 'nats.conf')
    const text = [options.config, options.tls && tlsBlock(options.tls)].filter((part) => part !== undefined)
    const config = text.length === 0 ? [] : ['-c', configFile]
    return {
      kind: 'nats',
      port,
      url: `nats://${LOOPBACK}:${port}`,
      dir,
      command: binary,
      args: ['-a', LOOPBACK, '-p', String(port), ...jetstream, ...config],
      prepare: () => {
        if (text.length > 0) fs.writeFileSync(configFile, text.join('\n'))
      },
      probe: () => sendsInfo(port, 500),
      readyTimeoutMs: options.readyTimeoutMs ?? 10_000
    }
  }
  return launch(build, options.port === undefined ? 3 : 1)
}

/**
 * Replaces the configuration of a server started with `config` (without `tls`) and has it reload it
 * (SIGHUP, what `nats-server --signal reload` sends). The server applies it asynchronously.
 */
export function reloadNats(broker: BrokerHandle, config: string): void {
  if (broker.pid === undefined) throw new Error('reloadNats: the server is not running')
  fs.writeFileSync(path.join(broker.dir, 'nats.conf'), config)
  process.kill(broker.pid, 'SIGHUP')
}
