/**
 * Where tsflink keeps things when the configuration does not say: $TSFLINK_HOME, else ~/.tsflink.
 *   <home>/checkpoints   default execution.checkpointing.dir
 *   <home>/jobs          registry of running jobs
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

export function tsflinkHome(env: NodeJS.ProcessEnv = process.env): string {
  const h = env.TSFLINK_HOME
  return h !== undefined && h !== '' ? resolve(h) : join(homedir(), '.tsflink')
}

export function defaultCheckpointsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(tsflinkHome(env), 'checkpoints')
}

export function registryDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(tsflinkHome(env), 'jobs')
}
