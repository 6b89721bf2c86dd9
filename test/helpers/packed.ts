/**
 * Installs this package the way a user does: built, packed with `npm pack`, and installed from the tarball
 * into throw-away projects beside the Feathers version each one pins. Nothing here touches the working
 * tree: the build goes to a staging copy, so test files packing at the same time cannot collide.
 */
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)
const root = join(__dirname, '..', '..')
/** The TypeScript compiler of this repository, used to check consumer projects. */
export const TSC = join(root, 'node_modules', 'typescript', 'bin', 'tsc')

export interface Output {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command; never throws for a non-zero exit, so a test can show what the command printed. */
export async function run(
  command: string,
  args: string[],
  cwd: string,
  timeoutMs = 120_000
): Promise<Output> {
  try {
    const { stdout, stderr } = await exec(command, args, {
      cwd,
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, npm_config_update_notifier: 'false' }
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; message: string }
    const code = typeof failed.code === 'number' ? failed.code : -1
    return { code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? failed.message }
  }
}

/** Runs a command that must succeed; its output is part of the error when it does not. */
export async function mustRun(command: string, args: string[], cwd: string): Promise<string> {
  const out = await run(command, args, cwd)
  if (out.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${out.code} in ${cwd}\n${out.stdout}\n${out.stderr}`)
  }
  return out.stdout
}

/** A temp directory removed by `cleanup()`. */
export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Builds the current sources into a staging copy and packs it; resolves with the tarball's path. */
export async function packTarball(into: string): Promise<string> {
  const stage = join(into, 'stage')
  mkdirSync(stage, { recursive: true })
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] }
  for (const entry of manifest.files.filter((name) => !name.startsWith('dist'))) {
    cpSync(join(root, entry), join(stage, entry), { recursive: true })
  }
  cpSync(join(root, 'package.json'), join(stage, 'package.json'))
  await mustRun(
    process.execPath,
    [TSC, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(stage, 'dist')],
    root
  )
  const packed = await mustRun(
    'npm',
    ['pack', '--json', '--ignore-scripts', '--pack-destination', into],
    stage
  )
  const [{ filename }] = JSON.parse(packed) as Array<{ filename: string }>
  return join(into, filename)
}

export interface Fixture {
  /** Directory name under the install root. */
  name: string
  /** `dependencies` of the fixture's package.json, besides this package. */
  dependencies: Record<string, string>
  /** Files to write, by path relative to the fixture. */
  files: Record<string, string>
}

/** Writes a fixture project and installs the tarball with its pinned dependencies from the registry. */
export async function installFixture(base: string, tarball: string, fixture: Fixture): Promise<string> {
  const dir = join(base, fixture.name)
  mkdirSync(dir, { recursive: true })
  const manifest = {
    name: `fixture-${fixture.name}`,
    private: true,
    dependencies: { 'feathers-fanout': `file:${tarball}`, ...fixture.dependencies }
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2))
  for (const [path, text] of Object.entries(fixture.files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  await mustRun('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], dir)
  return dir
}

/** Type-checks a project with this repository's `tsc`; resolves with the compiler's output and exit code. */
export const typecheck = (projectDir: string): Promise<Output> =>
  run(process.execPath, [TSC, '-p', projectDir, '--noEmit'], projectDir)
