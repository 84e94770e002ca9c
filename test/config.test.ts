import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseDuration } from '../src/runtime/config/duration.js'
import { findConfigDir, loadConfig, parseConfigText, parseDynamicProperties } from '../src/runtime/config/loader.js'
import { restartStrategyFromConfig } from '../src/runtime/job/restart-strategy.js'
import { CheckpointConfig, Configuration, StreamExecutionEnvironment } from '../src/index.js'
import { ROOT, runCli, tmp } from './helpers.js'

describe('durations', () => {
  for (const [text, ms] of [['500 ms', 500], ['10 s', 10_000], ['3min', 180_000], ['1 h', 3_600_000], ['7d', 604_800_000], ['250', 250], ['1.5 s', 1500]] as const) {
    it(`'${text}' is ${ms} ms`, () => assert.equal(parseDuration(text), ms))
  }
  it('rejects nonsense', () => {
    assert.equal(parseDuration('ten seconds'), undefined)
    assert.equal(parseDuration('5 parsecs'), undefined)
  })
})

describe('configuration files', () => {
  it('reads nested config.yaml and flattens keys', () => {
    const { config, warnings } = parseConfigText('execution:\n  checkpointing:\n    interval: 10 s\n    mode: AT_LEAST_ONCE\nparallelism.default: 3\n', 'config.yaml')
    assert.equal(config.getDuration('execution.checkpointing.interval'), 10_000)
    assert.equal(config.getString('execution.checkpointing.mode'), 'AT_LEAST_ONCE')
    assert.equal(config.getInt('parallelism.default'), 3)
    assert.deepEqual(warnings, [])
  })

  it('accepts legacy key names for the new ones', () => {
    const { config } = parseConfigText('state.checkpoints.dir: /data/cp\nstate.savepoints.dir: /data/sp\nstate.checkpoints.num-retained: 3\nstate.backend.incremental: true\n', 'flink-conf.yaml')
    assert.equal(config.getString('execution.checkpointing.dir'), '/data/cp')
    assert.equal(config.getString('execution.checkpointing.savepoint-dir'), '/data/sp')
    assert.equal(config.getInt('execution.checkpointing.num-retained'), 3)
    assert.equal(config.getBool('execution.checkpointing.incremental'), true)
  })

  it('warns about unknown keys', () => {
    const { warnings } = parseConfigText('no.such.key: 1\n', 'config.yaml')
    assert.deepEqual(warnings, ["Unknown configuration key 'no.such.key' in config.yaml"])
  })

  it('names file and line of malformed YAML', () => {
    assert.throws(() => parseConfigText('a: 1\nb: [unclosed\nc: 3\n', '/etc/conf/config.yaml'), /Malformed YAML in \/etc\/conf\/config.yaml at line \d+/)
  })

  it('names the key of a bad value', () => {
    assert.throws(() => parseConfigText('execution.checkpointing.interval: soon\n', 'config.yaml'), /Invalid value for 'execution.checkpointing.interval' in config.yaml/)
    assert.throws(() => parseConfigText('execution.checkpointing.mode: SOMETIMES\n', 'config.yaml'), /'execution.checkpointing.mode'/)
    assert.throws(() => parseDynamicProperties(['parallelism.default=many']), /'parallelism.default'/)
  })

  it('finds the directory: flag, then TSFLINK_CONF_DIR, then FLINK_CONF_DIR, then ./conf', () => {
    assert.equal(findConfigDir('/x', { TSFLINK_CONF_DIR: '/y', FLINK_CONF_DIR: '/z' }), '/x')
    assert.equal(findConfigDir(undefined, { TSFLINK_CONF_DIR: '/y', FLINK_CONF_DIR: '/z' }), '/y')
    assert.equal(findConfigDir(undefined, { FLINK_CONF_DIR: '/z' }), '/z')
    assert.match(findConfigDir(undefined, {}), /\/conf$/)
  })

  it('prefers config.yaml over flink-conf.yaml', () => {
    const dir = tmp()
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'config.yaml'), 'parallelism.default: 4\n')
    writeFileSync(join(dir, 'flink-conf.yaml'), 'parallelism.default: 2\n')
    const loaded = loadConfig(dir)
    assert.equal(loaded.config.getInt('parallelism.default'), 4)
    assert.equal(loaded.file, join(dir, 'config.yaml'))
  })

  it('precedence: code > -D > file', () => {
    const { config: file } = parseConfigText('execution.checkpointing.interval: 10 s\nexecution.checkpointing.timeout: 1 min\nparallelism.default: 2\n', 'config.yaml')
    const merged = file.merged(parseDynamicProperties(['execution.checkpointing.timeout=30s']))
    const env = StreamExecutionEnvironment.createLocalEnvironment(merged)
    const cc = env.getCheckpointConfig()
    assert.equal(cc.getCheckpointInterval(), 10_000)
    assert.equal(cc.getCheckpointTimeout(), 30_000)
    assert.equal(env.getParallelism(), 2)
    env.enableCheckpointing(500)
    assert.equal(cc.getCheckpointInterval(), 500)
  })

  it('reads restart strategies', () => {
    const { config } = parseConfigText('restart-strategy.type: fixed-delay\nrestart-strategy.fixed-delay.attempts: 5\nrestart-strategy.fixed-delay.delay: 2 s\n', 'c')
    assert.deepEqual(restartStrategyFromConfig(config), { type: 'fixed-delay', attempts: 5, delayMs: 2000 })
  })
})

describe('values out of range are refused when the configuration is loaded, naming key and value', () => {
  const bad: [string, string, RegExp][] = [
    ['execution.checkpointing.timeout', '0', /'0' is too small: it must be at least 10 ms/],
    ['execution.checkpointing.timeout', '5 ms', /at least 10 ms/],
    ['execution.checkpointing.interval', '0', /at least 10 ms/],
    ['execution.checkpointing.interval', '9ms', /at least 10 ms/],
    ['execution.checkpointing.max-concurrent-checkpoints', '0', /'0' is too small: it must be at least 1/],
    ['execution.checkpointing.num-retained', '0', /at least 1/],
    ['state.checkpoints.num-retained', '-2', /at least 1/],
    ['execution.checkpointing.tolerable-failed-checkpoints', '-1', /at least 0/],
    ['parallelism.default', '0', /at least 1/],
    ['execution.checkpointing.interval', '99999999999999999999 d', /too long/],
    ['restart-strategy.exponential-delay.jitter-factor', '2', /at most 1/],
  ]
  for (const [key, value, why] of bad) {
    it(`${key}: ${value}`, () => {
      const inFile = new RegExp(`^Invalid value for '${key.replace(/\./g, '\\.')}' in config\\.yaml: '${value}'`)
      assert.throws(() => parseConfigText(`${key}: ${value}\n`, 'config.yaml'), (e: Error) => inFile.test(e.message) && why.test(e.message))
      assert.throws(() => parseDynamicProperties([`${key}=${value}`]), (e: Error) => e.message.includes(`'${key}' in -D: '${value}'`) && why.test(e.message))
      // A Configuration built in code skips the loader: the typed getters check too.
      const fromCode = key.startsWith('restart-strategy.')
        ? () => restartStrategyFromConfig(new Configuration().set('restart-strategy.type', 'exponential-delay').set(key, value))
        : () => StreamExecutionEnvironment.createLocalEnvironment(new Configuration().set(key, value))
      assert.throws(fromCode, (e: Error) => e.message.includes(`'${key}'`) && why.test(e.message))
    })
  }

  it('long durations are fine (timers wait in chunks)', () => {
    const { config } = parseConfigText('execution.checkpointing.interval: 30d\nexecution.checkpointing.timeout: 30d\n', 'config.yaml')
    const cc = StreamExecutionEnvironment.createLocalEnvironment(config).getCheckpointConfig()
    assert.equal(cc.getCheckpointInterval(), 30 * 86_400_000)
    assert.equal(cc.getCheckpointTimeout(), 30 * 86_400_000)
  })

  it('the CLI refuses such a configuration before running anything: one line naming key and value', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'config.yaml'), 'execution.checkpointing.timeout: 0\n')
    const out = join(dir, 'out')
    const r = await runCli(['run', '--config-dir', dir, join(ROOT, 'test', 'jobs', 'counter.ts'), out, '10', '100'], { env: { TSFLINK_HOME: join(dir, 'home') } })
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr.split('\n')[0]!, /^Error: Invalid value for 'execution\.checkpointing\.timeout' in .*config\.yaml: '0' is too small: it must be at least 10 ms/)
    assert.doesNotMatch(r.stdout, /submitted/)
    const d = await runCli(['run', '-D', 'execution.checkpointing.max-concurrent-checkpoints=0', join(ROOT, 'test', 'jobs', 'counter.ts'), out, '10', '100'], { env: { TSFLINK_HOME: join(dir, 'home') } })
    assert.equal(d.code, 2, d.stderr)
    assert.match(d.stderr.split('\n')[0]!, /'execution\.checkpointing\.max-concurrent-checkpoints' in -D: '0' is too small/)
  })
})

describe('CheckpointConfig refuses what Flink refuses, with Flink\'s messages', () => {
  const cc = (): CheckpointConfig => StreamExecutionEnvironment.createLocalEnvironment(new Configuration()).getCheckpointConfig()
  it('interval, timeout, max concurrent, min pause, tolerable failures, retained', () => {
    assert.throws(() => cc().setCheckpointInterval(9), /^ConfigError: Checkpoint interval must be larger than or equal to 10 ms/)
    assert.throws(() => StreamExecutionEnvironment.createLocalEnvironment(new Configuration()).enableCheckpointing(0), /Checkpoint interval must be larger than or equal to 10 ms/)
    assert.throws(() => cc().setCheckpointInterval(Number.NaN), /Checkpoint interval must be larger than or equal to 10 ms/)
    assert.throws(() => cc().setCheckpointTimeout(0), /Checkpoint timeout must be larger than or equal to 10 ms/)
    assert.throws(() => cc().setCheckpointTimeout(9), /Checkpoint timeout must be larger than or equal to 10 ms/)
    assert.throws(() => cc().setMaxConcurrentCheckpoints(0), /The maximum number of concurrent attempts must be at least one\./)
    assert.throws(() => cc().setMaxConcurrentCheckpoints(1.5), /The maximum number of concurrent attempts must be at least one\./)
    assert.throws(() => cc().setMinPauseBetweenCheckpoints(-1), /Pause value must be zero or positive/)
    assert.throws(() => cc().setTolerableCheckpointFailureNumber(-1), /The tolerable failure checkpoint number must be non-negative\./)
    assert.throws(() => cc().setNumRetainedCheckpoints(0), /The number of retained checkpoints must be at least one\./)
    const ok = cc()
    ok.setCheckpointInterval(10)
    ok.setCheckpointTimeout(10)
    ok.setMaxConcurrentCheckpoints(1)
    ok.setMinPauseBetweenCheckpoints(0)
    ok.setTolerableCheckpointFailureNumber(0)
    ok.setNumRetainedCheckpoints(1)
    assert.deepEqual([ok.getCheckpointInterval(), ok.getCheckpointTimeout(), ok.getMaxConcurrentCheckpoints()], [10, 10, 1])
  })
})

describe('rest.bind-port', () => {
  it('takes a port, a range or a list; anything else is refused when loaded', () => {
    for (const ok of ['8081', '50100-50200', '50100-50200, 50300', '0']) assert.equal(parseConfigText(`rest.bind-port: "${ok}"\n`, 'c').config.getString('rest.bind-port'), ok)
    for (const bad of ['http', '50200-50100', '70000', '1-2-3']) {
      assert.throws(() => parseConfigText(`rest.bind-port: "${bad}"\n`, 'config.yaml'), new RegExp(`Invalid value for 'rest\\.bind-port' in config\\.yaml: '${bad}' is not a port`))
    }
  })
})
