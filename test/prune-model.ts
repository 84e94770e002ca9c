/**
 * Test helper for the prune property test (test/prune.test.ts): a seeded generator of checkpoint
 * roots as running and dead jobs leave them, and an oracle of what `checkpoints prune` must delete,
 * written from the rules in README "Pruning from cron" and SPEC §3 over the generator's own model
 * (which files exist, what each checkpoint references, which leases are live): it never looks at
 * the inventory or the planner.
 */
import { serializeMetadata as serializeCurrent, type CheckpointMetadata } from '../src/runtime/checkpoint/metadata.js'
import { serializeLease, type Lease } from '../src/runtime/checkpoint/lease.js'
import type { Storage } from '../src/runtime/storage/storage.js'

/** The fixtures here list files without content checksums, as `_metadata` format version 1 does (still read). */
const serializeMetadata = (meta: CheckpointMetadata): Buffer => serializeCurrent(meta, 1)

export const DAY = 86_400_000
export const NOW = Date.parse('2026-06-01T00:00:00Z')

/** mulberry32: a small, well-mixed 32-bit generator; `int(n)` is uniform on 0..n-1. */
export class Rng {
  private s: number
  constructor(seed: number) {
    this.s = seed >>> 0
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!
  }
  hex(n: number): string {
    let s = ''
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[this.int(16)]
    return s
  }
}

export type LeaseKind = 'none' | 'live' | 'live-skew' | 'expired' | 'ended' | 'unparsable' | 'other-job'
export type MetaKind = 'ok' | 'missing' | 'corrupt' | 'directory'

export interface ModelCheckpoint {
  dir: string
  id: number
  completedAt: number
  meta: MetaKind
  /** Locations the `_metadata` lists (when meta is 'ok'), with the size it records. */
  refs: { loc: string; size: number }[]
  /** Locations of the files inside dir. */
  own: string[]
  /** The job its `_metadata` names. */
  namesJob: string
}

export interface ModelJob {
  id: string
  path: string
  lease: LeaseKind
  leaseLatest: number | null
  leaseInProgress: number[]
  leaseSavepoints: string[]
  registry: boolean
  checkpoints: ModelCheckpoint[]
}

export interface ModelSavepoint {
  dir: string
  jobId: string
  id: number
  completedAt: number
  meta: 'ok' | 'missing' | 'corrupt'
  inProgress: LeaseKind
  refs: { loc: string; size: number }[]
  own: string[]
}

export interface Policy {
  keep: number
  olderThanMs: number | undefined
  includeSavepoints: boolean
}

export interface World {
  /** The folder holding the checkpoints root (and the sibling root `ck2`). */
  base: string
  /** The checkpoints root. */
  ck: string
  /** What prune is asked to prune: the root, or one job's folder. */
  target: string
  jobs: ModelJob[]
  savepoints: ModelSavepoint[]
  /** Every object written, with its bytes. */
  files: Map<string, Buffer>
  policy: Policy
  registry: Set<string>
  /** Features this case exercises (to check that the cases cover them all). */
  features: Set<string>
}

const LEASES: LeaseKind[] = ['none', 'none', 'none', 'live', 'live-skew', 'expired', 'ended', 'unparsable', 'other-job']

function leaseBytes(kind: LeaseKind, jobId: string, leaseKind: 'job' | 'savepoint', latest: number | null, inProgress: number[], savepoints: string[]): Buffer | undefined {
  if (kind === 'none') return undefined
  if (kind === 'unparsable') return Buffer.from('{"format":"tsflink-lease","vers')
  const renewedAt = kind === 'live' ? NOW - 5_000 : kind === 'live-skew' ? NOW - 3 * 60_000 : kind === 'expired' ? NOW - 30 * 60_000 : NOW - 1_000
  const lease: Lease = {
    format: 'tsflink-lease', version: 1, kind: leaseKind, jobId: kind === 'other-job' ? 'ffffffffffffffffffffffffffffffff' : jobId,
    owner: { host: 'elsewhere', pid: 4242, startedAt: NOW - DAY }, renewedAt, ttlMs: 60_000,
    latestCompleted: latest, inProgress, savepointsInProgress: savepoints, ended: kind === 'ended',
  }
  return serializeLease(lease)
}

/** Whether a lease of this kind protects (live, or unreadable: fail closed). */
export const leaseProtects = (k: LeaseKind): boolean => k === 'live' || k === 'live-skew' || k === 'unparsable' || k === 'other-job'

function metadataBytes(jobId: string, id: number, completedAt: number, type: 'checkpoint' | 'savepoint', refs: { path: string; size: number }[]): Buffer {
  const meta: CheckpointMetadata = {
    jobId: jobId as never, jobName: 'model', checkpointId: id as never, timestamp: completedAt - 10, completedAt: new Date(completedAt).toISOString(),
    kind: { type, incremental: type === 'checkpoint', format: type === 'checkpoint' ? 'native' : 'canonical' }, backend: 'rocksdb', program: null, operators: [],
    files: refs,
  }
  return serializeMetadata(meta)
}

/** The path of `loc` relative to `dir` ('../shared/x', '../../<job>/shared/x'). */
function rel(dir: string, loc: string): string {
  const a = dir.split('/')
  const b = loc.split('/')
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  return [...Array<string>(a.length - i).fill('..'), ...b.slice(i)].join('/')
}

/** The files in a job folder's shared/ and taskowned/. */
function sharedOf(files: ReadonlyMap<string, Buffer>, jobPath: string): string[] {
  return [...files.keys()].filter((l) => l.startsWith(`${jobPath}/shared/`) || l.startsWith(`${jobPath}/taskowned/`))
}

/** Generates one world (writes nothing yet). */
export function generate(rng: Rng, base: string): World {
  const ck = `${base}/ck`
  const files = new Map<string, Buffer>()
  const features = new Set<string>()
  const put = (loc: string, size = 1 + rng.int(40)): string => {
    files.set(loc, Buffer.from(rng.hex(size)))
    return loc
  }
  const jobs: ModelJob[] = []
  const nJobs = 1 + rng.int(4)
  if (nJobs > 1) features.add('several jobs per root')
  for (let j = 0; j < nJobs; j++) {
    const id = rng.hex(32)
    const path = `${ck}/${id}`
    const job: ModelJob = { id, path, lease: rng.pick(LEASES), leaseLatest: null, leaseInProgress: [], leaseSavepoints: [], registry: rng.chance(0.08), checkpoints: [] }
    // A job restored in claim mode from an earlier job reuses that job's shared files.
    const from = j > 0 && rng.chance(0.3) ? jobs[rng.int(j)]! : undefined
    let live: string[] = from !== undefined ? sharedOf(files, from.path).filter(() => rng.chance(0.5)) : []
    if (from !== undefined && live.length > 0) features.add('references across job folders')
    const n = rng.int(7)
    let id0 = 0
    for (let c = 0; c < n; c++) {
      id0 += 1 + (rng.chance(0.2) ? rng.int(3) : 0)
      for (let k = rng.int(3); k > 0; k--) live.push(put(`${path}/shared/sst-${rng.hex(6)}`))
      if (rng.chance(0.25) && live.length > 2) live = [...live.slice(1 + rng.int(live.length - 1)), put(`${path}/shared/sst-${rng.hex(6)}`)]
      const dir = `${path}/chk-${id0}`
      const own = [put(`${dir}/state-${rng.hex(4)}`)]
      if (rng.chance(0.3)) own.push(put(`${dir}/timers-${rng.hex(4)}`))
      const completedAt = Math.floor(NOW - (n - c) * DAY * (0.5 + rng.next() * 2) - rng.int(DAY))
      const meta: MetaKind = rng.chance(0.82) ? 'ok' : rng.pick<MetaKind>(['missing', 'missing', 'corrupt', 'directory'])
      // Now and then a checkpoint builds on a private file of an earlier one (of this job, or of the job it was restored from).
      const earlier = [...job.checkpoints, ...(from?.checkpoints ?? [])]
      const borrowed = earlier.length > 0 && rng.chance(0.15) ? [rng.pick(rng.pick(earlier).own)] : []
      const refs = [...own, ...live, ...borrowed].filter((loc) => files.has(loc)).map((loc) => ({ loc, size: files.get(loc)!.length }))
      job.checkpoints.push({ dir, id: id0, completedAt, meta, refs, own, namesJob: id })
    }
    if (rng.chance(0.3)) put(`${path}/${rng.pick(['shared', 'taskowned'])}/orphan-${rng.hex(6)}`)
    // A checkpoint being written (or left by a crash): files, no _metadata; a fresh upload in shared/.
    if (rng.chance(0.4)) {
      const dir = `${path}/chk-${id0 + 1}`
      const own = [put(`${dir}/state-${rng.hex(4)}`)]
      put(`${path}/shared/uploading-${rng.hex(6)}`)
      job.checkpoints.push({ dir, id: id0 + 1, completedAt: NOW, meta: 'missing', refs: [], own, namesJob: id })
      if (rng.chance(0.5)) job.leaseInProgress.push(id0 + 1)
    }
    const ok = job.checkpoints.filter((c) => c.meta === 'ok')
    job.leaseLatest = ok.length === 0 ? null : rng.chance(0.7) ? ok[ok.length - 1]!.id : rng.pick(ok).id
    jobs.push(job)
  }
  // Damage: a file of a checkpoint goes missing or changes size.
  for (const job of jobs) {
    for (const c of job.checkpoints) {
      if (c.meta !== 'ok' || !rng.chance(0.06)) continue
      const victim = rng.pick(c.own)
      if (rng.chance(0.5)) files.delete(victim)
      else files.set(victim, Buffer.concat([files.get(victim)!, Buffer.from('x')]))
      features.add('damaged checkpoint')
    }
  }

  const savepoints: ModelSavepoint[] = []
  for (let s = rng.int(4), spId = 100; s > 0; s--, spId += 1 + rng.int(3)) {
    const owner = rng.chance(0.8) ? rng.pick(jobs) : undefined
    const jobId = owner?.id ?? rng.hex(32)
    const dir = `${ck}/savepoint-${jobId.slice(0, 6)}-${rng.hex(12)}`
    const own = [put(`${dir}/state-${rng.hex(4)}`)]
    const meta = rng.chance(0.7) ? 'ok' as const : rng.pick(['missing', 'missing', 'corrupt'] as const)
    const inProgress = meta === 'missing' ? rng.pick<LeaseKind>(['none', 'live', 'live-skew', 'expired', 'ended', 'unparsable']) : rng.chance(0.15) ? rng.pick<LeaseKind>(['live', 'expired']) : 'none'
    const sp: ModelSavepoint = { dir, jobId, id: spId, completedAt: NOW - rng.int(40) * DAY - rng.int(DAY), meta, inProgress, refs: own.map((loc) => ({ loc, size: files.get(loc)!.length })), own }
    if (owner !== undefined && meta === 'missing' && rng.chance(0.3)) owner.leaseSavepoints.push(dir)
    savepoints.push(sp)
  }

  // Things that are not ours: a user folder named like a job, a copied checkpoint of another job, a savepoint-looking folder.
  if (rng.chance(0.25)) {
    const d = `${ck}/${rng.hex(32)}`
    put(`${d}/chk-1/thesis.tex`)
    put(`${d}/shared/important.db`)
    features.add('user folder named like a job')
  }
  if (rng.chance(0.15)) {
    const x = rng.hex(32)
    const d = `${ck}/${x}/chk-3`
    const own = put(`${d}/state`)
    const other = rng.hex(32)
    files.set(`${d}/_metadata`, metadataBytes(other, 3, NOW - 90 * DAY, 'checkpoint', [{ path: 'state', size: files.get(own)!.length }]))
    put(`${ck}/${x}/shared/unrelated`)
    features.add('checkpoint naming another job')
  }
  if (rng.chance(0.15)) put(`${ck}/savepoint-notes/notes.txt`)
  put(`${ck}/README.txt`)

  // A sibling root whose name extends this one's: nothing in it may be touched.
  const sib = `${base}/ck2/${rng.hex(32)}`
  for (let i = 1; i <= 3; i++) {
    const own = put(`${sib}/chk-${i}/state`)
    files.set(`${sib}/chk-${i}/_metadata`, metadataBytes(sib.slice(-32), i, NOW - (10 - i) * DAY, 'checkpoint', [{ path: 'state', size: files.get(own)!.length }]))
  }
  put(`${sib}/shared/loose`)

  // Write _metadata and leases.
  for (const job of jobs) {
    for (const c of job.checkpoints) {
      if (c.meta === 'ok') files.set(`${c.dir}/_metadata`, metadataBytes(c.namesJob, c.id, c.completedAt, 'checkpoint', c.refs.map((r) => ({ path: rel(c.dir, r.loc), size: r.size }))))
      else if (c.meta === 'corrupt') files.set(`${c.dir}/_metadata`, Buffer.from('{"format":"tsflink-checkpoint","version":1,"chec'))
      else if (c.meta === 'directory') files.set(`${c.dir}/_metadata/oops`, Buffer.from('x'))
    }
    const lease = leaseBytes(job.lease, job.id, 'job', job.leaseLatest, job.leaseInProgress, job.leaseSavepoints)
    if (lease !== undefined) files.set(`${job.path}/_lease`, lease)
  }
  for (const sp of savepoints) {
    if (sp.meta === 'ok') files.set(`${sp.dir}/_metadata`, metadataBytes(sp.jobId, sp.id, sp.completedAt, 'savepoint', sp.refs.map((r) => ({ path: rel(sp.dir, r.loc), size: r.size }))))
    else if (sp.meta === 'corrupt') files.set(`${sp.dir}/_metadata`, Buffer.from('not json'))
    const lease = leaseBytes(sp.inProgress, sp.jobId, 'savepoint', null, [], [])
    if (lease !== undefined) files.set(`${sp.dir}/_in_progress`, lease)
  }

  const registry = new Set(jobs.filter((j) => j.registry).map((j) => j.id))
  const policy: Policy = {
    keep: rng.chance(0.2) ? 1 /* the CLI's default when --keep is not given */ : rng.pick([0, 1, 2, 3, 5]),
    olderThanMs: rng.chance(0.4) ? undefined : rng.pick([0, 1, 3, 7, 30]) * DAY,
    includeSavepoints: rng.chance(0.5),
  }
  const target = rng.chance(0.2) ? rng.pick(jobs).path : ck
  if (target !== ck) features.add('a job folder as the root')
  return { base, ck, target, jobs, savepoints, files, policy, registry, features }
}

export async function writeWorld(w: World, storage: Storage): Promise<void> {
  const entries = [...w.files]
  for (let i = 0; i < entries.length; i += 64) await Promise.all(entries.slice(i, i + 64).map(([loc, data]) => storage.write(loc, data)))
}

export interface Expected {
  dirs: Set<string>
  files: Set<string>
}

const under = (dir: string, loc: string): boolean => loc.startsWith(`${dir}/`)

/**
 * What prune must delete, from the rules as users read them:
 * - only below the target; job folders and savepoints count only when their content says so
 *   (a `_lease` or `_metadata` naming the folder's job; a savepoint's `_metadata` or `_in_progress`);
 * - a job runs while its lease is live (or unreadable), or the registry lists it;
 * - per job the newest max(1, keep) valid checkpoints stay, older ones go if older than --older-than;
 *   a running job keeps what its lease names and its folders without `_metadata`;
 * - damaged or unreadable ones stay; leftovers without `_metadata` of jobs not running go;
 * - savepoints: never one in progress; others only with --include-savepoints, by the same policy;
 * - a directory holding a file a kept checkpoint needs stays; a running job's deleted checkpoints'
 *   references outside their own directory stay;
 * - shared files: only when every `_metadata` read, nobody kept references them, and neither
 *   their job nor a running job that references its folder runs.
 */
export function oracle(w: World): Expected {
  const { policy } = w
  const keepN = Math.max(1, policy.keep)
  const rootIsJob = w.target !== w.ck
  const sizeOf = (loc: string): number | undefined => w.files.get(loc)?.length
  const valid = (meta: string, refs: { loc: string; size: number }[]): boolean => meta === 'ok' && refs.every((r) => sizeOf(r.loc) === r.size)
  const running = (j: ModelJob): boolean => leaseProtects(j.lease) || w.registry.has(j.id)
  const parsable = (k: LeaseKind): boolean => k === 'live' || k === 'live-skew' || k === 'expired' || k === 'ended'
  const recognised = (j: ModelJob): boolean => parsable(j.lease) || j.checkpoints.some((c) => c.meta === 'ok' && c.namesJob === j.id)
  const inScope = (loc: string): boolean => under(w.target, loc)

  const dirs = new Set<string>()
  const keptRefs = new Set<string>()
  // Every job folder is read: below the root, or next to a job-folder target.
  const allCheckpoints = w.jobs.flatMap((j) => j.checkpoints.map((c) => ({ j, c })))

  for (const j of w.jobs) {
    const mine = inScope(j.path) || j.path === w.target
    const keptHere = (c: ModelCheckpoint): void => {
      if (c.meta === 'ok') for (const r of c.refs) keptRefs.add(r.loc)
    }
    if (!mine || !recognised(j)) {
      j.checkpoints.forEach(keptHere)
      continue
    }
    const named = new Set<number>()
    if (running(j) && parsable(j.lease)) {
      if (j.leaseLatest !== null) named.add(j.leaseLatest)
      for (const id of j.leaseInProgress) named.add(id)
    }
    const validOnes = j.checkpoints.filter((c) => valid(c.meta, c.refs)).sort((a, b) => b.id - a.id)
    for (const c of j.checkpoints) {
      if (named.has(c.id)) keptHere(c)
      else if (c.meta === 'missing') {
        if (running(j)) keptHere(c)
        else dirs.add(c.dir)
      } else if (!valid(c.meta, c.refs)) keptHere(c)
      else {
        const i = validOnes.indexOf(c)
        const old = policy.olderThanMs === undefined || c.completedAt < NOW - policy.olderThanMs
        if (i >= keepN && old) dirs.add(c.dir)
        else keptHere(c)
      }
    }
  }

  // Savepoints (a job folder as the target holds none).
  const spGroups = new Map<string, ModelSavepoint[]>()
  const pinned = new Set<string>()
  for (const sp of w.savepoints) {
    const keepIt = (): void => {
      if (sp.meta === 'ok') for (const r of sp.refs) keptRefs.add(r.loc)
    }
    if (rootIsJob) {
      keepIt()
      continue
    }
    const recognisedSp = sp.meta !== 'missing' || sp.inProgress !== 'none'
    const namedByLease = w.jobs.some((j) => running(j) && parsable(j.lease) && j.leaseSavepoints.includes(sp.dir))
    if (!recognisedSp || leaseProtects(sp.inProgress) || !policy.includeSavepoints) keepIt()
    else if (!valid(sp.meta, sp.refs)) {
      if (sp.meta === 'missing' && !namedByLease) dirs.add(sp.dir)
      else keepIt()
    } else {
      spGroups.set(sp.jobId, [...(spGroups.get(sp.jobId) ?? []), sp])
      if (namedByLease) pinned.add(sp.dir)
    }
  }
  for (const list of spGroups.values()) {
    list.sort((a, b) => b.id - a.id || b.completedAt - a.completedAt)
    list.forEach((sp, i) => {
      const old = policy.olderThanMs === undefined || sp.completedAt < NOW - policy.olderThanMs
      if (i >= keepN && old && !pinned.has(sp.dir)) dirs.add(sp.dir)
      else for (const r of sp.refs) keptRefs.add(r.loc)
    })
  }
  // The copied checkpoint naming another job, and the user folders: kept, and so what they reference.
  for (const loc of w.files.keys()) {
    if (!loc.endsWith('/_metadata') || !inScopeOrContext(w, loc)) continue
    const owner = loc.slice(0, -'/_metadata'.length)
    if (allCheckpoints.some(({ c }) => c.dir === owner) || w.savepoints.some((s) => s.dir === owner)) continue
    keptRefs.add(`${owner}/state`)
  }

  // A running job may reuse what its deleted checkpoints referenced outside their own directory.
  for (const { j, c } of allCheckpoints) {
    if (running(j) && dirs.has(c.dir) && c.meta === 'ok') for (const r of c.refs) if (!under(c.dir, r.loc)) keptRefs.add(r.loc)
  }
  // A directory holding a file someone kept needs stays, and then what it references stays.
  const dirRefs = new Map<string, string[]>()
  for (const { c } of allCheckpoints) dirRefs.set(c.dir, c.meta === 'ok' ? c.refs.map((r) => r.loc) : [])
  for (const sp of w.savepoints) dirRefs.set(sp.dir, sp.meta === 'ok' ? sp.refs.map((r) => r.loc) : [])
  for (let changed = true; changed;) {
    changed = false
    for (const d of dirs) {
      if (![...w.files.keys()].some((loc) => under(d, loc) && keptRefs.has(loc))) continue
      dirs.delete(d)
      for (const r of dirRefs.get(d) ?? []) keptRefs.add(r)
      w.features.add('rescue of a directory a kept checkpoint uses')
      changed = true
    }
  }

  const files = new Set<string>()
  const anyUnreadable = w.jobs.some((j) => j.checkpoints.some((c) => c.meta === 'corrupt' || c.meta === 'directory'))
    || (!rootIsJob && w.savepoints.some((sp) => sp.meta === 'corrupt'))
  if (!anyUnreadable) {
    const busy = new Set<string>()
    for (const j of w.jobs) {
      if (!running(j)) continue
      busy.add(j.path)
      for (const c of j.checkpoints) if (c.meta === 'ok') for (const r of c.refs) for (const o of w.jobs) if (under(o.path, r.loc)) busy.add(o.path)
    }
    for (const j of w.jobs) {
      if (!(inScope(j.path) || j.path === w.target) || !recognised(j) || busy.has(j.path)) continue
      for (const f of sharedOf(w.files, j.path)) if (!keptRefs.has(f) && inScope(f)) files.add(f)
    }
  }
  return { dirs, files }
}

/** Whether a `_metadata` was read by prune: below the target, or in a job folder next to a job-folder target. */
function inScopeOrContext(w: World, loc: string): boolean {
  if (under(w.target, loc)) return true
  if (w.target === w.ck) return false
  const m = /^(.*)\/([0-9a-f]{32})\//.exec(loc.slice(w.ck.length))
  return m !== null && m[1] === '' && under(w.ck, loc)
}
