/**
 * `-yid <applicationId>`: the CLI finds a job manager's REST endpoint through a real YARN
 * ResourceManager (MiniYARNCluster on 127.0.0.1, test/servers/hadoop.ts). A running tsflink job is
 * registered with the ResourceManager as an unmanaged application master whose host, RPC port and
 * tracking URL are its REST endpoint (what a Flink job manager on YARN registers); savepoint,
 * checkpoint, list and stop then reach it by application id alone. Unknown, malformed and ended
 * applications are one clear error line, with nothing written. The ResourceManager's address from
 * the configuration or a yarn-site.xml (YARN_CONF_DIR before HADOOP_CONF_DIR).
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Configuration } from '../src/runtime/config/configuration.js'
import { parseSiteXml, resourceManagerAddress } from '../src/runtime/control/yarn.js'
import { ROOT, committedLines, killWhenDone, runCli, tmp, untilRunning } from './helpers.js'
import { hadoopSkip, startHadoop, type HadoopCluster, type UnmanagedAm } from './servers/hadoop.js'

const COUNTER = join(ROOT, 'test', 'jobs', 'counter.ts')

describe('the ResourceManager address', () => {
  const site = (props: Record<string, string>): string => {
    const dir = tmp()
    writeFileSync(join(dir, 'yarn-site.xml'), `<?xml version="1.0"?>\n<configuration>\n<!-- <property><name>yarn.resourcemanager.webapp.address</name><value>commented:1</value></property> -->\n${
      Object.entries(props).map(([k, v]) => `  <property>\n    <name>${k}</name>\n    <value>${v}</value>\n    <source>programmatically</source>\n  </property>`).join('\n')}\n</configuration>\n`)
    return dir
  }

  it('comes from the configuration first, then YARN_CONF_DIR, then HADOOP_CONF_DIR, then Hadoop\'s default', () => {
    const yarnDir = site({ 'yarn.resourcemanager.webapp.address': 'yarn-conf:1' })
    const hadoopDir = site({ 'yarn.resourcemanager.webapp.address': 'hadoop-conf:2' })
    const env = { YARN_CONF_DIR: yarnDir, HADOOP_CONF_DIR: hadoopDir }
    assert.equal(resourceManagerAddress(new Configuration([['yarn.resourcemanager.webapp.address', 'http://conf:3/']]), env).address, 'conf:3')
    assert.equal(resourceManagerAddress(undefined, env).address, 'yarn-conf:1')
    assert.equal(resourceManagerAddress(undefined, { HADOOP_CONF_DIR: hadoopDir }).address, 'hadoop-conf:2')
    assert.equal(resourceManagerAddress(undefined, { YARN_CONF_DIR: tmp(), HADOOP_CONF_DIR: hadoopDir }).address, 'hadoop-conf:2', 'a conf dir without yarn-site.xml is passed over')
    assert.equal(resourceManagerAddress(undefined, {}).address, '0.0.0.0:8088')
  })

  it('expands ${...} as Hadoop does, with Hadoop\'s default for the web address', () => {
    assert.equal(resourceManagerAddress(undefined, { HADOOP_CONF_DIR: site({ 'yarn.resourcemanager.hostname': 'rm.example' }) }).address, 'rm.example:8088')
    assert.equal(resourceManagerAddress(undefined, { HADOOP_CONF_DIR: site({ 'rm.port': '9099', 'yarn.resourcemanager.webapp.address': '${env.RM_HOST}:${rm.port}' }), RM_HOST: 'h1' }).address, 'h1:9099')
    assert.deepEqual([...parseSiteXml('<configuration><property><name>a</name><value>x &amp; y</value></property><property><name>b</name><value/></property></configuration>')], [['a', 'x & y'], ['b', '']])
  })
})

describe('-yid against a real YARN ResourceManager', { skip: hadoopSkip() }, () => {
  let hadoop: HadoopCluster
  before(async () => {
    hadoop = await startHadoop({ yarn: true })
  })
  after(async () => hadoop?.stop())

  it('savepoint, checkpoint, list and stop reach a job by its YARN application id; an ended application is refused', async (t) => {
    const home = tmp()
    const out = join(home, 'out')
    // The job accepts requests without its secret, so that the CLI below, with a home of its own
    // (an empty job registry), reaches it only through the address YARN gives.
    const started = await runCli(['run', '-d', '-D', 'execution.checkpointing.interval=200ms', '-D', 'rest.authentication=none', COUNTER, out, '100000000', '2000'], { env: { TSFLINK_HOME: home } })
    assert.equal(started.code, 0, started.stderr)
    const jobId = /JobID ([0-9a-f]{32})/.exec(started.stdout)![1]!
    killWhenDone(t, home, jobId)
    await untilRunning(jobId, { TSFLINK_HOME: home })
    const env = { TSFLINK_HOME: tmp(), HADOOP_CONF_DIR: hadoop.confDir, YARN_CONF_DIR: '' }
    const alone = await runCli(['savepoint', jobId, join(home, 'savepoints')], { env })
    assert.equal(alone.code, 1, 'without -yid this CLI does not find the job')
    const rest = (JSON.parse(readFileSync(join(home, 'jobs', `${jobId}.json`), 'utf8')) as { rest: string }).rest
    const [host, port] = [rest.slice(0, rest.lastIndexOf(':')), Number(rest.slice(rest.lastIndexOf(':') + 1))]
    let am: UnmanagedAm | undefined = await hadoop.registerAm({ host, port, trackingUrl: `http://${rest}`, name: 'tsflink counter' })
    t.after(async () => am?.kill())
    const report = (await (await fetch(`http://${hadoop.rmWebapp}/ws/v1/cluster/apps/${am.appId}`)).json()) as { app: { state: string; amRPCAddress: string } }
    assert.equal(report.app.state, 'RUNNING')
    assert.equal(report.app.amRPCAddress, rest, 'the ResourceManager reports the job\'s REST endpoint as the AM\'s host and RPC port')

    // savepoint -yid (RM address from HADOOP_CONF_DIR's yarn-site.xml)
    const spDir = join(home, 'savepoints')
    const sp = await runCli(['savepoint', jobId, spDir, '-yid', am.appId], { env })
    assert.equal(sp.code, 0, sp.stderr)
    const path = /Savepoint completed\. Path: (.+)$/m.exec(sp.stdout)![1]!
    assert.ok(path.startsWith(`${spDir}/savepoint-${jobId.slice(0, 6)}-`), path)
    assert.ok(existsSync(join(path, '_metadata')), 'the savepoint is complete')

    // checkpoint -yid and list -yid (RM address from the configuration this time)
    const byConfig = { ...env, HADOOP_CONF_DIR: '' }
    const cp = await runCli(['checkpoint', jobId, '-yid', am.appId, '-D', `yarn.resourcemanager.webapp.address=${hadoop.rmWebapp}`], { env: byConfig })
    assert.equal(cp.code, 0, cp.stderr)
    assert.match(cp.stdout, new RegExp(`^Checkpoint \\d+ for job ${jobId} completed\\.$`, 'm'))
    const list = await runCli(['list', '-yid', am.appId, '-D', `yarn.resourcemanager.webapp.address=${hadoop.rmWebapp}`], { env: byConfig })
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, new RegExp(`${jobId} : counter \\(RUNNING\\)`))

    // An application the ResourceManager does not know, and a malformed id: one line, nothing written.
    const clusterTs = /^application_(\d+)_/.exec(am.appId)![1]!
    const unknown = await runCli(['savepoint', jobId, spDir, '-yid', `application_${clusterTs}_9999`], { env })
    assert.equal(unknown.code, 1)
    assert.equal(unknown.stderr.trim(), `Error: YARN application application_${clusterTs}_9999 is unknown to the ResourceManager at ${hadoop.rmWebapp}`)
    const malformed = await runCli(['savepoint', jobId, spDir, '-yid', 'app-1'], { env })
    assert.equal(malformed.code, 2)
    assert.match(malformed.stderr, /^Error: Invalid YARN application id 'app-1'/)
    const both = await runCli(['savepoint', jobId, spDir, '-yid', am.appId, '-m', rest], { env })
    assert.equal(both.code, 2)
    assert.match(both.stderr, /^Error: Give either -m .* or -yid .*, not both$/m)
    assert.equal(readdirSync(spDir).length, 1, 'no savepoint beside the first one')

    // stop -yid: a savepoint, then the job ends.
    const stopDir = join(home, 'stop-savepoints')
    mkdirSync(stopDir)
    const stop = await runCli(['stop', '-p', stopDir, jobId, '-yid', am.appId], { env })
    assert.equal(stop.code, 0, stop.stderr)
    assert.equal(readdirSync(stopDir).length, 1)
    assert.ok(existsSync(join(stopDir, readdirSync(stopDir)[0]!, '_metadata')))
    assert.ok(committedLines(out).length > 0)

    // The application ends (the AM unregisters): -yid refuses it, as Flink does.
    const appId = am.appId
    await am.finish()
    am = undefined
    const ended = await runCli(['list', '-yid', appId], { env })
    assert.equal(ended.code, 1)
    assert.equal(ended.stderr.split('\n')[0], `Error: The YARN application ${appId} doesn't run anymore: it ended FINISHED with final status SUCCEEDED`)
    assert.equal(ended.stderr.trim().split('\n').length, 1)
  })
})
