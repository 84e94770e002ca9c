import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseDuration } from '../src/runtime/config/duration.js'
import { findConfigDir, loadConfig, parseConfigText, parseDynamicProperties } from '../src/runtime/config/loader.js'
import { restartStrategyFromConfig } from '../src/runtime/job/restart-strategy.js'
import { StreamExecutionEnvironment } from '../src/index.js'
import { tmp } from './helpers.js'

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
