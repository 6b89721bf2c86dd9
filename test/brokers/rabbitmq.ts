import { connect } from 'amqplib'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { BrokerHandle } from './index'
import { ensureBinary } from './install'
import { freePort, LOOPBACK } from './ports'
import { launch, type BrokerSpec } from './process'
import type { BrokerTls } from './tls'

export interface RabbitMqOptions {
  /** Fixed AMQP port (needed to reuse a port); by default a free one is picked. */
  port?: number
  /** Erlang distribution port; by default a free one is picked. */
  distPort?: number
  readyTimeoutMs?: number
  /** Serve AMQP over TLS only, on `port`; the handle's url is then `amqps://`. */
  tls?: BrokerTls
  /** The Erlang cookie; nodes of one cluster need the same. By default Erlang makes one at first boot. */
  cookie?: string
}

// The unwrapped script: /usr/sbin/rabbitmq-server switches to the rabbitmq user, which cannot use our
// temp dir. This one runs as the current user; it forks the Erlang VM and forwards SIGTERM to it.
const SERVER_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmq-server'
// The unwrapped script: /usr/sbin/rabbitmqctl would switch to the rabbitmq user, who lacks our node's cookie.
const CTL_SCRIPT = '/usr/lib/rabbitmq/bin/rabbitmqctl'

async function distinctFreePort(taken: number): Promise<number> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await freePort()
    if (port !== taken) return port
  }
  throw new Error('could not find a second free port for the Erlang distribution')
}

/** The listener lines of rabbitmq.conf: plain AMQP, or AMQP over TLS with plain TCP off. */
function listeners(port: number, secure: BrokerTls | undefined): string[] {
  if (!secure) return [`listeners.tcp.1 = ${LOOPBACK}:${port}`]
  const peer = secure.requireClientCert ? 'verify_peer' : 'verify_none'
  return [
    'listeners.tcp = none',
    `listeners.ssl.1 = ${LOOPBACK}:${port}`,
    `ssl_options.cacertfile = ${secure.caFile}`,
    `ssl_options.certfile = ${secure.certFile}`,
    `ssl_options.keyfile = ${secure.keyFile}`,
    `ssl_options.verify = ${peer}`,
    `ssl_options.fail_if_no_peer_cert = ${secure.requireClientCert === true}`
  ]
}

/** Writes everything the node reads at boot, so /etc/rabbitmq never applies (also on restart). */
function prepare(dir: string, port: number, secure: BrokerTls | undefined, cookie?: string): void {
  for (const sub of ['home', 'mnesia', 'log']) fs.mkdirSync(path.join(dir, sub), { recursive: true })
  const cookieFile = path.join(dir, 'home', '.erlang.cookie')
  // Erlang refuses a cookie file others can read; a restart finds it there already.
  if (cookie !== undefined && !fs.existsSync(cookieFile))
    fs.writeFileSync(cookieFile, cookie, { mode: 0o400 })
  fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n')
  fs.writeFileSync(path.join(dir, 'rabbitmq-env.conf'), '')
  fs.writeFileSync(
    path.join(dir, 'rabbitmq.conf'),
    [
      ...listeners(port, secure),
      'loopback_users.guest = true',
      // Small CI disks must not trigger the disk alarm, which blocks publishers.
      'disk_free_limit.absolute = 1MB',
      'log.console = true',
      'log.console.level = info',
      'log.file = false',
      ''
    ].join('\n')
  )
}

/** Ready means a real AMQP handshake succeeds; connection refusals before that are cheap. */
async function acceptsAmqp(url: string, secure: BrokerTls | undefined): Promise<boolean> {
  // Over TLS the probe trusts the test CA and presents the server's own certificate as a client.
  const read = (file: string) => fs.readFileSync(file)
  const tls = secure && { ca: [read(secure.caFile)], cert: read(secure.certFile), key: read(secure.keyFile) }
  try {
    const connection = await connect(url, { timeout: 2000, ...tls })
    await connection.close()
    return true
  } catch {
    return false
  }
}

/** The Erlang node name of the node whose AMQP port is `port`. */
export const nodeName = (port: number): string => `fanout${port}@localhost`

function environment(dir: string, port: number, distPort: number): NodeJS.ProcessEnv {
  // Drop inherited RabbitMQ/Erlang settings: they could point the node at another config or name.
  const inherited = Object.keys(process.env).filter((key) => /^(RABBITMQ_|ERL_)/.test(key))
  const env: NodeJS.ProcessEnv = Object.fromEntries(inherited.map((key) => [key, undefined]))
  return {
    ...env,
    HOME: path.join(dir, 'home'),
    RABBITMQ_NODENAME: nodeName(port),
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_NODE_IP_ADDRESS: LOOPBACK,
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    // No scheduler busy waiting, as RabbitMQ's runtime tuning guide advises where the node shares its CPUs
    // with other processes: spinning schedulers took most of a core under traffic here, which the
    // instances and the other brokers of the run need (a cut-off instance's catch-up, quiet: 0.82-1.04 s
    // with spinning, 0.63-0.83 s without).
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '+sbwt none +sbwtdcpu none +sbwtdio none',
    // epmd is started by the first node and outlives it (it daemonizes); keep it on loopback.
    ERL_EPMD_ADDRESS: LOOPBACK
  }
}

/**
 * Starts a private RabbitMQ node (user guest/guest, loopback only) in a fresh temp dir. Takes several
 * seconds: start it once per test file, not per test.
 */
export async function startRabbitMq(options: RabbitMqOptions = {}): Promise<BrokerHandle> {
  const script = ensureBinary('rabbitmq-server', 'rabbitmq-server', [SERVER_SCRIPT])
  const build = async (): Promise<BrokerSpec> => {
    const port = options.port ?? (await freePort())
    const distPort = options.distPort ?? (await distinctFreePort(port))
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fanout-rabbitmq-${port}-`))
    const url = `${options.tls ? 'amqps' : 'amqp'}://guest:guest@${LOOPBACK}:${port}`
    return {
      kind: 'rabbitmq',
      port,
      url,
      dir,
      command: script,
      args: [],
      env: environment(dir, port, distPort),
      prepare: (target) => prepare(target, port, options.tls, options.cookie),
      probe: () => acceptsAmqp(url, options.tls),
      readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
      stopTimeoutMs: 30_000
    }
  }
  return launch(build, options.port === undefined ? 2 : 1)
}

/** rabbitmqctl against a node of startRabbitMq(): its node name and HOME (the Erlang cookie) are set above. */
export function rabbitmqctl(broker: BrokerHandle, ...args: string[]): Promise<string> {
  const env = { ...process.env, HOME: path.join(broker.dir, 'home'), ERL_EPMD_ADDRESS: LOOPBACK }
  return new Promise((resolve, reject) => {
    execFile(
      CTL_SCRIPT,
      ['-n', nodeName(broker.port), '-q', ...args],
      { env, timeout: 20_000 },
      (error, stdout) => (error ? reject(error) : resolve(stdout))
    )
  })
}

/** Rows of a `rabbitmqctl list_*` table (header line dropped), split on tabs. */
export const rabbitmqRows = async (broker: BrokerHandle, ...args: string[]): Promise<string[][]> =>
  (await rabbitmqctl(broker, ...args))
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '')
    .map((line) => line.split('\t'))
