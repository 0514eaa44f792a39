'use strict'
/*
 * KafkaJS against a running gregor broker (started by ../test_kafkajs.sh):
 *
 *   node test_kafkajs.js BOOTSTRAP PREFIX
 *
 * KafkaJS is a protocol implementation of its own (no librdkafka, no Java
 * client code), so it exercises the broker's encoders and decoders along a
 * different path: ApiVersions v2, Metadata v6, Produce v7, Fetch v11,
 * ListOffsets v3, CreateTopics v3, DeleteTopics v1, CreatePartitions v1,
 * DescribeConfigs v2, AlterConfigs v1, DeleteRecords v1, InitProducerId v1.
 *
 * Every test prints "PASS name (secs)", "FAIL name (secs)" (details on
 * stderr) or "SKIP name: reason". Topic names start with PREFIX. The topic
 * PREFIX-verify is left behind on purpose with VERIFY_COUNT known messages
 * so that the shell runner can read it back with kcat, a second client.
 *
 * KafkaJS has no public manual-assignment consumer; reads without a
 * consumer group go through its internal Cluster/Broker objects, which send
 * the same Fetch v11 request and decode it with the same code consumer.run
 * uses. The group-based consumer.run test skips itself until the broker
 * advertises the group APIs.
 */

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const assert = require('assert')
const { Kafka, logLevel, CompressionTypes, ConfigResourceTypes } = require('kafkajs')

const bootstrap = process.argv[2]
const prefix = process.argv[3] || `kafkajs-${process.pid}`
if (!bootstrap) {
  console.error('usage: node test_kafkajs.js BOOTSTRAP [PREFIX]')
  process.exit(2)
}

const TEST_TIMEOUT_MS = 30000
const VERIFY_COUNT = 300

// Kafka error codes the tests look for.
const OFFSET_OUT_OF_RANGE = 'OFFSET_OUT_OF_RANGE'
const TOPIC_ALREADY_EXISTS = 'TOPIC_ALREADY_EXISTS'

// API keys (Kafka protocol).
const API = {
  Produce: 0, Fetch: 1, ListOffsets: 2, Metadata: 3, FindCoordinator: 10, JoinGroup: 11,
  Heartbeat: 12, LeaveGroup: 13, SyncGroup: 14, OffsetCommit: 8, OffsetFetch: 9, ListGroups: 16,
  ApiVersions: 18, CreateTopics: 19, DeleteTopics: 20, DeleteRecords: 21, InitProducerId: 22,
  DescribeConfigs: 32, AlterConfigs: 33, CreatePartitions: 37,
}

// KafkaJS log lines go to stderr as JSON, WARN and above. A response whose
// correlation id matches no request in flight (e.g. one sent for acks=0) is
// counted: KafkaJS only logs it.
let unmatchedResponses = 0
const stderrLogger = () => ({ namespace, level, label, log }) => {
  if (/without match/i.test(log.message)) unmatchedResponses++
  process.stderr.write(`kafkajs ${label} [${namespace}] ${JSON.stringify(log)}\n`)
}

const kafka = new Kafka({
  clientId: 'gregor-kafkajs-test',
  brokers: [bootstrap],
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
  logLevel: logLevel.WARN,
  logCreator: stderrLogger,
})

// ---- a tiny runner ----

const tests = []
function test(name, fn) {
  tests.push({ name, fn })
}

class Skip extends Error {}

function withTimeout(promise, ms, what) {
  let timer
  const t = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
  })
  return Promise.race([promise, t]).finally(() => clearTimeout(timer))
}

function describeError(e) {
  if (!e) return String(e)
  const parts = [e.stack || String(e)]
  if (e.type) parts.push(`type=${e.type}`)
  if (e.code !== undefined) parts.push(`code=${e.code}`)
  if (e.errors) parts.push(`errors=${e.errors.map(x => `${x.type || x.name}: ${x.message}`).join('; ')}`)
  if (e.partitions) parts.push(`partitions=${JSON.stringify(e.partitions.map(p => ({ partition: p.partition, error: p.error && p.error.type })))}`)
  return parts.join('\n  ')
}

async function runAll() {
  let failed = 0
  const wanted = new Set(process.argv.slice(4))
  for (const { name, fn } of tests) {
    if (wanted.size && !wanted.has(name)) continue
    const t0 = Date.now()
    try {
      await withTimeout(fn(), TEST_TIMEOUT_MS, name)
      console.log(`PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`)
    } catch (e) {
      if (e instanceof Skip) {
        console.log(`SKIP ${name}: ${e.message}`)
        continue
      }
      failed++
      console.error(`---- ${name} failed ----\n${describeError(e)}`)
      console.log(`FAIL ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`)
    }
  }
  return failed
}

// ---- helpers ----

const topicName = suffix => `${prefix}-${suffix}`

// Every Kafka error type in a KafkaJS error: its own, its causes' (the
// retrier wraps errors), aggregated errors' and per-partition errors'.
function errorTypes(e, out = new Set(), depth = 0) {
  if (!e || typeof e !== 'object' || depth > 8) return out
  if (e.type) out.add(e.type)
  errorTypes(e.cause, out, depth + 1)
  errorTypes(e.originalError, out, depth + 1)
  for (const x of e.errors || []) errorTypes(x, out, depth + 1)
  for (const p of e.partitions || []) errorTypes(p.error, out, depth + 1)
  return out
}

// Expects fn() to reject with a KafkaJS error carrying Kafka error `type`;
// returns the error.
async function expectKafkaError(fn, type, what) {
  let err = null
  try {
    await fn()
  } catch (e) {
    err = e
  }
  assert.ok(err, `${what}: expected ${type}, got success`)
  const types = [...errorTypes(err)]
  assert.ok(types.includes(type), `${what}: expected ${type}, got [${types.join(',')}] (${err.name}: ${err.message})`)
  return err
}

async function withAdmin(fn) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect()
  }
}

async function withProducer(opts, fn) {
  const producer = kafka.producer(opts)
  await producer.connect()
  try {
    return await fn(producer)
  } finally {
    await producer.disconnect()
  }
}

async function createTopic(admin, topic, numPartitions = 1, configEntries = []) {
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }],
    timeout: 10000,
  })
  assert.strictEqual(created, true, `createTopics ${topic} returned ${created}`)
}

async function topicConfigs(admin, topic, configNames) {
  const res = await admin.describeConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames }],
    includeSynonyms: false,
  })
  assert.strictEqual(res.resources.length, 1)
  const r = res.resources[0]
  assert.strictEqual(r.errorCode, 0, `describeConfigs ${topic}: error ${r.errorCode} ${r.errorMessage}`)
  const out = {}
  for (const e of r.configEntries) out[e.configName] = e
  return out
}

// The Cluster object KafkaJS builds for its producer/consumer/admin, here
// for direct Broker requests (ApiVersions map, Fetch).
function internalCluster() {
  const sym = Object.getOwnPropertySymbols(kafka).find(s => s.description === 'private:Kafka:createCluster')
  assert.ok(sym, 'KafkaJS internals changed: no private:Kafka:createCluster')
  return kafka[sym]({ allowAutoTopicCreation: false })
}

async function withCluster(fn) {
  const cluster = internalCluster()
  await cluster.connect()
  await cluster.refreshMetadata()
  try {
    return await fn(cluster)
  } finally {
    await cluster.disconnect()
  }
}

async function leaderOf(cluster, topic, partition) {
  await cluster.addTargetTopic(topic)
  const leaders = cluster.findLeaderForPartitions(topic, [partition])
  const nodeIds = Object.keys(leaders)
  assert.strictEqual(nodeIds.length, 1, `no leader for ${topic}/${partition}: ${JSON.stringify(leaders)}`)
  return cluster.findBroker({ nodeId: nodeIds[0] })
}

// Fetches one partition from `offset` up to the high watermark with
// KafkaJS's Fetch (v11), returning {records, highWatermark, logStartOffset}.
// Checks the v11 partition header fields a single node must fill: last
// stable offset = high watermark (no transactions), no aborted
// transactions, no preferred read replica (-1).
async function fetchPartition(cluster, topic, partition, offset) {
  const broker = await leaderOf(cluster, topic, partition)
  const records = []
  let next = BigInt(offset)
  let hw = null
  let lso = null
  for (let round = 0; round < 1000; round++) {
    const resp = await broker.fetch({
      replicaId: -1,
      isolationLevel: 1,
      maxWaitTime: 100,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [{ topic, partitions: [{ partition, fetchOffset: next.toString(), maxBytes: 256 << 10 }] }],
    })
    const p = resp.responses[0].partitions[0]
    assert.strictEqual(p.errorCode, 0)
    assert.strictEqual(p.lastStableOffset, p.highWatermark, 'last stable offset')
    assert.deepStrictEqual(p.abortedTransactions, [], 'aborted transactions')
    assert.strictEqual(p.preferredReadReplica, -1, 'preferred read replica')
    hw = BigInt(p.highWatermark)
    lso = BigInt(p.lastStartOffset)
    for (const m of p.messages) {
      if (BigInt(m.offset) >= next) records.push(m)
    }
    if (records.length) next = BigInt(records[records.length - 1].offset) + 1n
    if (next >= hw) break
    assert.ok(p.messages.length > 0, `fetch at ${next} below high watermark ${hw} returned nothing`)
  }
  return { records, highWatermark: hw, logStartOffset: lso }
}

function byPartition(records) {
  const out = {}
  for (const r of records) (out[r.partition] = out[r.partition] || []).push(r)
  return out
}

// ---- tests ----

test('kafkajs_api_versions', async () => {
  await withCluster(async cluster => {
    const broker = await cluster.findBroker({ nodeId: String(cluster.getNodeIds()[0]) })
    const v = broker.versions
    assert.ok(v && Object.keys(v).length > 0, 'no ApiVersions')
    // What KafkaJS 2.2.4 would use with a full Kafka broker; the broker
    // must advertise at least these for KafkaJS to pick them.
    const kafkajsMax = {
      Produce: 7, Fetch: 11, ListOffsets: 3, Metadata: 6, ApiVersions: 2, CreateTopics: 3,
      DeleteTopics: 1, DeleteRecords: 1, InitProducerId: 1, DescribeConfigs: 2, AlterConfigs: 1,
      CreatePartitions: 1,
    }
    for (const [name, max] of Object.entries(kafkajsMax)) {
      const e = v[API[name]]
      assert.ok(e, `${name} (key ${API[name]}) not advertised`)
      assert.ok(e.minVersion <= max && e.maxVersion >= max,
        `${name} advertised ${e.minVersion}..${e.maxVersion}, KafkaJS wants ${max}`)
    }
  })
})

test('kafkajs_create_topics_validate_only', async () => {
  await withAdmin(async admin => {
    const topic = topicName('vo')
    const r = await admin.createTopics({
      topics: [{ topic, numPartitions: 2, replicationFactor: 1 }],
      validateOnly: true,
      waitForLeaders: false,
      timeout: 10000,
    })
    assert.strictEqual(r, true)
    const topics = await admin.listTopics()
    assert.ok(!topics.includes(topic), 'validateOnly created the topic')
    // Validation refuses what a real create would refuse.
    await expectKafkaError(() => admin.createTopics({
      topics: [{ topic: 'bad/name', numPartitions: 1 }], validateOnly: true, waitForLeaders: false,
    }), 'INVALID_TOPIC_EXCEPTION', 'validateOnly with a bad name')
    await expectKafkaError(() => admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'no.such.config', value: '1' }] }],
      validateOnly: true, waitForLeaders: false,
    }), 'INVALID_CONFIG', 'validateOnly with an unknown config')
    assert.ok(!(await admin.listTopics()).includes(topic))
  })
})

test('kafkajs_create_topics', async () => {
  await withAdmin(async admin => {
    const topic = topicName('create')
    await createTopic(admin, topic, 3, [
      { name: 'retention.ms', value: '3600000' },
      { name: 'cleanup.policy', value: 'delete' },
      { name: 'max.message.bytes', value: '200000' },
    ])
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    assert.strictEqual(md.topics.length, 1)
    const t = md.topics[0]
    assert.strictEqual(t.name, topic)
    assert.deepStrictEqual(t.partitions.map(p => p.partitionId).sort(), [0, 1, 2])
    const cluster = await admin.describeCluster()
    assert.strictEqual(cluster.brokers.length, 1, JSON.stringify(cluster))
    const node = cluster.brokers[0].nodeId
    assert.ok(cluster.clusterId && cluster.clusterId.length > 0, 'no cluster id')
    assert.strictEqual(cluster.controller, node)
    assert.strictEqual(`${cluster.brokers[0].host}:${cluster.brokers[0].port}`, bootstrap)
    for (const p of t.partitions) {
      assert.strictEqual(p.partitionErrorCode, 0)
      assert.strictEqual(p.leader, node)
      assert.deepStrictEqual(p.replicas, [node])
      assert.deepStrictEqual(p.isr, [node])
    }
    assert.ok((await admin.listTopics()).includes(topic))
    // Creating it again: KafkaJS turns TOPIC_ALREADY_EXISTS into `false`.
    const again = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], timeout: 10000 })
    assert.strictEqual(again, false, `second create returned ${again} (expected false: ${TOPIC_ALREADY_EXISTS})`)
    // Bad requests.
    await expectKafkaError(() => admin.createTopics({ topics: [{ topic: '..' }], waitForLeaders: false }),
      'INVALID_TOPIC_EXCEPTION', 'topic named ..')
    await expectKafkaError(() => admin.createTopics({
      topics: [{ topic: topicName('badpart'), numPartitions: 0 }], waitForLeaders: false,
    }), 'INVALID_PARTITIONS', 'zero partitions')
    await expectKafkaError(() => admin.createTopics({
      topics: [{ topic: topicName('badrf'), numPartitions: 1, replicationFactor: 3 }], waitForLeaders: false,
    }), 'INVALID_REPLICATION_FACTOR', 'replication factor 3 on one node')
    await expectKafkaError(() => admin.createTopics({
      topics: [{ topic: topicName('badval'), configEntries: [{ name: 'retention.ms', value: 'soon' }] }],
      waitForLeaders: false,
    }), 'INVALID_CONFIG', 'non-numeric retention.ms')
  })
})

// KafkaJS's admin sends Metadata v6 with allow_auto_topic_creation=false:
// the topic must stay absent although the broker auto-creates by default.
test('kafkajs_fetch_topic_metadata_unknown', async () => {
  await withAdmin(async admin => {
    const absent = topicName('absent')
    await expectKafkaError(() => admin.fetchTopicMetadata({ topics: [absent] }),
      'UNKNOWN_TOPIC_OR_PARTITION', 'metadata of an absent topic (admin does not auto-create)')
    assert.ok(!(await admin.listTopics()).includes(absent), 'Metadata with allow_auto_topic_creation=false created it')
  })
  // Same through a producer that opts out of auto-creation.
  const absent2 = topicName('absent2')
  await withProducer({ allowAutoTopicCreation: false, retry: { retries: 1, initialRetryTime: 100 } }, async p => {
    await expectKafkaError(() => p.send({ topic: absent2, acks: -1, messages: [{ value: 'x' }] }),
      'UNKNOWN_TOPIC_OR_PARTITION', 'producing to an absent topic without auto-create')
  })
  await withAdmin(async admin => {
    assert.ok(!(await admin.listTopics()).includes(absent2), 'a producer without auto-create created the topic')
  })
})

test('kafkajs_describe_configs', async () => {
  await withAdmin(async admin => {
    const topic = topicName('describe')
    await createTopic(admin, topic, 1, [{ name: 'retention.ms', value: '3600000' }])
    const all = await topicConfigs(admin, topic)
    for (const k of ['cleanup.policy', 'retention.ms', 'retention.bytes', 'segment.bytes', 'segment.ms',
      'max.message.bytes', 'message.timestamp.type', 'min.insync.replicas', 'compression.type']) {
      assert.ok(all[k], `describeConfigs lacks ${k}: has ${Object.keys(all).join(',')}`)
    }
    assert.strictEqual(all['retention.ms'].configValue, '3600000')
    assert.strictEqual(all['retention.ms'].isDefault, false)
    assert.strictEqual(all['retention.ms'].configSource, 1, 'retention.ms source (1 = DYNAMIC_TOPIC_CONFIG)')
    assert.strictEqual(all['cleanup.policy'].configValue, 'delete')
    assert.strictEqual(all['cleanup.policy'].isDefault, true)
    assert.notStrictEqual(all['cleanup.policy'].configSource, 1)
    assert.strictEqual(all['retention.ms'].readOnly, false)
    // Only the names asked for.
    const some = await topicConfigs(admin, topic, ['retention.ms', 'cleanup.policy'])
    assert.deepStrictEqual(Object.keys(some).sort(), ['cleanup.policy', 'retention.ms'])
    // Synonyms (v1+): the dynamic value first, then the broker default.
    const syn = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }],
      includeSynonyms: true,
    })
    const e = syn.resources[0].configEntries[0]
    assert.ok(Array.isArray(e.configSynonyms) && e.configSynonyms.length >= 1, JSON.stringify(e))
    assert.strictEqual(e.configSynonyms[0].configValue, '3600000')
    // The broker resource, named by node id.
    const node = (await admin.describeCluster()).brokers[0].nodeId
    const b = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.BROKER, name: String(node) }],
      includeSynonyms: false,
    })
    assert.strictEqual(b.resources.length, 1)
    assert.strictEqual(b.resources[0].errorCode, 0, b.resources[0].errorMessage)
    const bc = {}
    for (const x of b.resources[0].configEntries) bc[x.configName] = x
    assert.ok(bc['num.partitions'], `broker configs lack num.partitions: ${Object.keys(bc).join(',')}`)
    assert.strictEqual(bc['num.partitions'].configValue, '1')
    // An absent topic is an error for that resource.
    const absent = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topicName('absent') }], includeSynonyms: false,
    }).then(r => r.resources[0].errorCode, e => e.type)
    assert.ok(absent === 3 || absent === 'UNKNOWN_TOPIC_OR_PARTITION', `absent topic: ${absent}`)
  })
})

test('kafkajs_alter_configs', async () => {
  await withAdmin(async admin => {
    const topic = topicName('alter')
    await createTopic(admin, topic, 1, [{ name: 'cleanup.policy', value: 'compact' }])
    const alter = (entries, validateOnly) => admin.alterConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: entries }],
      validateOnly,
    })
    // validateOnly changes nothing.
    let r = await alter([{ name: 'retention.ms', value: '7200000' }], true)
    assert.strictEqual(r.resources[0].errorCode, 0)
    let c = await topicConfigs(admin, topic, ['retention.ms', 'cleanup.policy'])
    assert.strictEqual(c['retention.ms'].isDefault, true, 'validateOnly altered retention.ms')
    assert.strictEqual(c['cleanup.policy'].configValue, 'compact')
    // AlterConfigs replaces the topic's whole dynamic set (not incremental):
    // cleanup.policy, set at create, goes back to the default.
    r = await alter([{ name: 'retention.ms', value: '7200000' }, { name: 'segment.ms', value: '600000' }], false)
    assert.strictEqual(r.resources[0].errorCode, 0)
    c = await topicConfigs(admin, topic, ['retention.ms', 'segment.ms', 'cleanup.policy'])
    assert.strictEqual(c['retention.ms'].configValue, '7200000')
    assert.strictEqual(c['segment.ms'].configValue, '600000')
    assert.strictEqual(c['cleanup.policy'].configValue, 'delete', 'AlterConfigs kept an omitted key')
    assert.strictEqual(c['cleanup.policy'].isDefault, true)
    // Refusals: unknown key, bad value; nothing changes.
    await expectKafkaError(() => alter([{ name: 'no.such.config', value: 'x' }], false),
      'INVALID_CONFIG', 'alter unknown key')
    await expectKafkaError(() => alter([{ name: 'cleanup.policy', value: 'shred' }], false),
      'INVALID_CONFIG', 'alter bad cleanup.policy')
    c = await topicConfigs(admin, topic, ['retention.ms'])
    assert.strictEqual(c['retention.ms'].configValue, '7200000')
  })
})

test('kafkajs_create_partitions', async () => {
  await withAdmin(async admin => {
    const topic = topicName('parts')
    await createTopic(admin, topic, 3)
    await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }], validateOnly: true })
    let md = await admin.fetchTopicMetadata({ topics: [topic] })
    assert.strictEqual(md.topics[0].partitions.length, 3, 'validateOnly added partitions')
    await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }], timeout: 10000 })
    md = await admin.fetchTopicMetadata({ topics: [topic] })
    assert.deepStrictEqual(md.topics[0].partitions.map(p => p.partitionId).sort(), [0, 1, 2, 3, 4])
    await expectKafkaError(() => admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] }),
      'INVALID_PARTITIONS', 'shrinking partitions')
    await expectKafkaError(() => admin.createPartitions({ topicPartitions: [{ topic: topicName('absent'), count: 2 }] }),
      'UNKNOWN_TOPIC_OR_PARTITION', 'partitions for an absent topic')
    // The new partitions take writes.
    await withProducer({}, async p => {
      const res = await p.send({ topic, acks: -1, messages: [{ partition: 4, value: 'p4' }] })
      assert.strictEqual(res[0].partition, 4)
      assert.strictEqual(res[0].errorCode, 0)
    })
    const offs = await admin.fetchTopicOffsets(topic)
    assert.strictEqual(offs.find(o => o.partition === 4).high, '1')
  })
})

// Idempotent acks=-1 producer: keys, headers, explicit partitions and
// timestamps, a GZIP batch; read back with Fetch v11 and checked field by field.
test('kafkajs_idempotent_produce_and_fetch', async () => {
  const topic = topicName('idem')
  await withAdmin(admin => createTopic(admin, topic, 3))
  const sent = []
  const base = Date.now() - 60000
  await withProducer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 5 } }, async p => {
    for (let round = 0; round < 4; round++) {
      const messages = []
      for (let i = 0; i < 50; i++) {
        const n = round * 50 + i
        messages.push({
          partition: n % 3,
          key: `k-${n}`,
          value: `v-${n}-${'x'.repeat(n % 17)}`,
          timestamp: String(base + n),
          headers: { seq: String(n), kind: round % 2 ? 'gzip' : 'none' },
        })
      }
      const res = await p.send({
        topic,
        acks: -1,
        timeout: 10000,
        compression: round % 2 ? CompressionTypes.GZIP : CompressionTypes.None,
        messages,
      })
      for (const r of res) assert.strictEqual(r.errorCode, 0, JSON.stringify(r))
      sent.push(...messages)
    }
  })
  await withCluster(async cluster => {
    for (let part = 0; part < 3; part++) {
      const want = sent.filter(m => m.partition === part)
      const { records, highWatermark, logStartOffset } = await fetchPartition(cluster, topic, part, 0)
      assert.strictEqual(highWatermark, BigInt(want.length))
      assert.strictEqual(logStartOffset, 0n)
      assert.strictEqual(records.length, want.length, `partition ${part}: ${records.length} of ${want.length}`)
      records.forEach((r, i) => {
        const m = want[i]
        assert.strictEqual(r.offset, String(i))
        assert.strictEqual(r.key.toString(), m.key)
        assert.strictEqual(r.value.toString(), m.value)
        assert.strictEqual(r.timestamp, m.timestamp, `timestamp of ${m.key}`)
        assert.strictEqual(r.headers.seq.toString(), m.headers.seq)
        assert.strictEqual(r.headers.kind.toString(), m.headers.kind)
        const ctx = r.batchContext
        assert.ok(BigInt(ctx.producerId) >= 0n, `${m.key}: batch without producer id (not idempotent)`)
        assert.strictEqual(ctx.timestampType, 0)
        assert.strictEqual(ctx.inTransaction, false)
      })
      assert.ok(records.some(r => r.headers.kind.toString() === 'gzip'))
    }
  })
  // Offsets agree.
  await withAdmin(async admin => {
    const offs = await admin.fetchTopicOffsets(topic)
    for (let part = 0; part < 3; part++) {
      const o = offs.find(x => x.partition === part)
      assert.strictEqual(o.low, '0')
      assert.strictEqual(o.high, String(sent.filter(m => m.partition === part).length))
    }
  })
})

// acks=0 (no response may come back), acks=1, sendBatch over two topics,
// and a record over the topic's max.message.bytes.
test('kafkajs_produce_acks_and_send_batch', async () => {
  const a = topicName('acks-a')
  const b = topicName('acks-b')
  await withAdmin(async admin => {
    await createTopic(admin, a, 1)
    await createTopic(admin, b, 2, [{ name: 'max.message.bytes', value: '2000' }])
  })
  const unmatchedBefore = unmatchedResponses
  await withProducer({}, async p => {
    // With acks=0 KafkaJS resolves at once and expects no response; an
    // answer would arrive unmatched on the connection.
    for (let i = 0; i < 5; i++) {
      const r = await p.send({ topic: a, acks: 0, messages: [{ value: `zero-${i}` }] })
      assert.ok(r === undefined || Array.isArray(r), JSON.stringify(r))
    }
    const r1 = await p.send({ topic: a, acks: 1, messages: [{ value: 'one' }] })
    assert.strictEqual(r1[0].errorCode, 0)
    assert.strictEqual(r1[0].baseOffset, '5', 'acks=1 record after five acks=0 records')
    const rb = await p.sendBatch({
      acks: -1,
      topicMessages: [
        { topic: a, messages: [{ value: 'batch-a' }] },
        { topic: b, messages: [{ partition: 0, value: 'batch-b0' }, { partition: 1, value: 'batch-b1' }] },
      ],
    })
    const got = rb.map(x => `${x.topicName}/${x.partition}@${x.baseOffset}:${x.errorCode}`).sort()
    assert.deepStrictEqual(got, [`${a}/0@6:0`, `${b}/0@0:0`, `${b}/1@0:0`].sort())
    await expectKafkaError(() => p.send({ topic: b, acks: -1, messages: [{ partition: 0, value: 'x'.repeat(5000) }] }),
      'MESSAGE_TOO_LARGE', 'a record over max.message.bytes=2000')
  })
  assert.strictEqual(unmatchedResponses, unmatchedBefore, 'responses that matched no request (acks=0 answered?)')
  await withAdmin(async admin => {
    assert.deepStrictEqual((await admin.fetchTopicOffsets(a)).map(o => o.high), ['7'])
    assert.deepStrictEqual((await admin.fetchTopicOffsets(b)).map(o => o.high).sort(), ['1', '1'])
  })
})

// Fetch long poll: at the high watermark the broker holds the request for
// max_wait_ms when nothing arrives, and answers early when a record does.
test('kafkajs_fetch_long_poll', async () => {
  const topic = topicName('poll')
  await withAdmin(admin => createTopic(admin, topic, 1))
  await withProducer({}, p => p.send({ topic, acks: -1, messages: [{ value: 'first' }] }))
  await withCluster(async cluster => {
    const broker = await leaderOf(cluster, topic, 0)
    const fetchAt = (offset, maxWaitTime) => broker.fetch({
      replicaId: -1, isolationLevel: 1, maxWaitTime, minBytes: 1, maxBytes: 1 << 20,
      topics: [{ topic, partitions: [{ partition: 0, fetchOffset: String(offset), maxBytes: 1 << 20 }] }],
    })
    let t0 = Date.now()
    let resp = await fetchAt(1, 1500)
    let waited = Date.now() - t0
    assert.deepStrictEqual(resp.responses[0].partitions[0].messages, [])
    assert.ok(waited >= 1300, `empty fetch answered after ${waited} ms, max_wait_ms was 1500`)
    assert.ok(waited < 6000, `empty fetch answered after ${waited} ms, max_wait_ms was 1500`)
    // A record produced while the fetch waits wakes it.
    t0 = Date.now()
    const pending = fetchAt(1, 10000)
    await new Promise(resolve => setTimeout(resolve, 300))
    await withProducer({}, p => p.send({ topic, acks: -1, messages: [{ value: 'second' }] }))
    resp = await pending
    waited = Date.now() - t0
    const msgs = resp.responses[0].partitions[0].messages
    assert.deepStrictEqual(msgs.map(m => m.value.toString()), ['second'])
    assert.ok(waited < 5000, `fetch woken by a produce after ${waited} ms (max_wait_ms 10000)`)
  })
})

// Default partitioner by key, producer-side auto topic creation
// (Metadata v6 allow_auto_topic_creation).
test('kafkajs_produce_auto_create_and_key_partitioning', async () => {
  const topic = topicName('auto')
  await withProducer({ allowAutoTopicCreation: true }, async p => {
    const res = await p.send({
      topic, acks: -1,
      messages: Array.from({ length: 30 }, (_, i) => ({ key: `key-${i % 5}`, value: `v${i}` })),
    })
    for (const r of res) assert.strictEqual(r.errorCode, 0)
  })
  await withAdmin(async admin => {
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    assert.strictEqual(md.topics[0].partitions.length, 1, 'auto-created with num.partitions=1')
    const offs = await admin.fetchTopicOffsets(topic)
    assert.strictEqual(offs[0].high, '30')
  })
})

test('kafkajs_fetch_topic_offsets_by_timestamp', async () => {
  const topic = topicName('bytime')
  await withAdmin(admin => createTopic(admin, topic, 2))
  const t0 = 1700000000000
  await withProducer({}, async p => {
    // Partition 0: timestamps t0, t0+1000, ..., t0+9000 at offsets 0..9;
    // partition 1: a single old record.
    await p.send({
      topic, acks: -1,
      messages: [
        ...Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: `m${i}`, timestamp: String(t0 + i * 1000) })),
        { partition: 1, value: 'old', timestamp: String(t0 - 5000) },
      ],
    })
  })
  await withAdmin(async admin => {
    const at = async ts => {
      const r = await admin.fetchTopicOffsetsByTimestamp(topic, ts)
      const o = {}
      for (const x of r) o[x.partition] = x.offset
      return o
    }
    let o = await at(t0)
    assert.strictEqual(o[0], '0')
    assert.strictEqual(o[1], '1', 'nothing at/after t0 in partition 1: KafkaJS falls back to the high watermark')
    o = await at(t0 + 4500)
    assert.strictEqual(o[0], '5', 'first record with timestamp >= t0+4500')
    o = await at(t0 + 9000)
    assert.strictEqual(o[0], '9')
    o = await at(t0 + 9001)
    assert.strictEqual(o[0], '10')
    o = await at(t0 - 10000)
    assert.strictEqual(o[0], '0')
    assert.strictEqual(o[1], '0')
  })
})

test('kafkajs_delete_topic_records', async () => {
  const topic = topicName('delrec')
  await withAdmin(admin => createTopic(admin, topic, 2))
  await withProducer({}, p => p.send({
    topic, acks: -1,
    messages: Array.from({ length: 40 }, (_, i) => ({ partition: i % 2, value: `r${i}` })),
  }))
  await withAdmin(async admin => {
    let offs = await admin.fetchTopicOffsets(topic)
    assert.deepStrictEqual(offs.map(o => [o.partition, o.low, o.high]).sort(), [[0, '0', '20'], [1, '0', '20']])
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '7' }] })
    // offset -1 means "up to the high watermark".
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 1, offset: '-1' }] })
    offs = await admin.fetchTopicOffsets(topic)
    const o = {}
    for (const x of offs) o[x.partition] = x
    assert.strictEqual(o[0].low, '7')
    assert.strictEqual(o[0].high, '20')
    assert.strictEqual(o[1].low, '20')
    assert.strictEqual(o[1].high, '20')
    // Past the high watermark is refused (OFFSET_OUT_OF_RANGE) and changes nothing.
    await expectKafkaError(() => admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '21' }] }),
      OFFSET_OUT_OF_RANGE, 'deleting past the high watermark')
    offs = await admin.fetchTopicOffsets(topic)
    assert.strictEqual(offs.find(x => x.partition === 0).low, '7')
  })
  await withCluster(async cluster => {
    // Fetching below the new log start offset is OFFSET_OUT_OF_RANGE ...
    await expectKafkaError(() => fetchPartition(cluster, topic, 0, 3), OFFSET_OUT_OF_RANGE, 'fetch below log start')
    // ... and from it returns the rest, with the new log start offset.
    const { records, logStartOffset } = await fetchPartition(cluster, topic, 0, 7)
    assert.strictEqual(logStartOffset, 7n)
    assert.deepStrictEqual(records.map(r => r.value.toString()), Array.from({ length: 13 }, (_, i) => `r${(i + 7) * 2}`))
  })
})

test('kafkajs_log_append_time', async () => {
  const topic = topicName('lat')
  await withAdmin(admin => createTopic(admin, topic, 1, [{ name: 'message.timestamp.type', value: 'LogAppendTime' }]))
  const before = Date.now()
  await withProducer({}, p => p.send({
    topic, acks: -1, messages: [{ value: 'a', timestamp: '1000' }, { value: 'b', timestamp: '2000' }],
  }))
  const after = Date.now()
  await withCluster(async cluster => {
    const { records } = await fetchPartition(cluster, topic, 0, 0)
    assert.strictEqual(records.length, 2)
    for (const r of records) {
      assert.strictEqual(r.batchContext.timestampType, 1, 'timestamp type LOG_APPEND_TIME')
      const ts = Number(r.timestamp)
      assert.ok(ts >= before - 1000 && ts <= after + 1000, `log append time ${ts} not in [${before}, ${after}]`)
    }
  })
})

test('kafkajs_delete_topics', async () => {
  await withAdmin(async admin => {
    const a = topicName('del-a')
    const b = topicName('del-b')
    await createTopic(admin, a, 2)
    await createTopic(admin, b, 1)
    await admin.deleteTopics({ topics: [a, b], timeout: 10000 })
    const names = await admin.listTopics()
    assert.ok(!names.includes(a) && !names.includes(b), `still listed: ${names}`)
    await expectKafkaError(() => admin.fetchTopicMetadata({ topics: [a] }), 'UNKNOWN_TOPIC_OR_PARTITION',
      'metadata of a deleted topic')
    await expectKafkaError(() => admin.deleteTopics({ topics: [a], timeout: 5000 }), 'UNKNOWN_TOPIC_OR_PARTITION',
      'deleting it again')
    // The name can be used again, and starts empty.
    await createTopic(admin, a, 1)
    const offs = await admin.fetchTopicOffsets(a)
    assert.deepStrictEqual(offs.map(o => [o.low, o.high]), [['0', '0']])
  })
})

// Left for the shell runner to read back with kcat: VERIFY_COUNT messages
// over 2 partitions, keyed, with a header, half of them GZIP.
test('kafkajs_produce_for_kcat', async () => {
  const topic = topicName('verify')
  await withAdmin(admin => createTopic(admin, topic, 2))
  await withProducer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 5 } }, async p => {
    for (const [from, compression] of [[0, CompressionTypes.None], [VERIFY_COUNT / 2, CompressionTypes.GZIP]]) {
      const messages = []
      for (let i = from; i < from + VERIFY_COUNT / 2; i++) {
        messages.push({ partition: i % 2, key: `key-${i}`, value: `value-${i}`, headers: { n: String(i) } })
      }
      await p.send({ topic, acks: -1, compression, messages })
    }
  })
})

// Group consumption needs FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
// OffsetCommit/OffsetFetch; skipped while the broker does not serve them.
test('kafkajs_consumer_group_run', async () => {
  const groupApis = ['FindCoordinator', 'JoinGroup', 'SyncGroup', 'Heartbeat', 'LeaveGroup', 'OffsetCommit', 'OffsetFetch']
  const versions = await withCluster(async cluster => {
    const broker = await cluster.findBroker({ nodeId: String(cluster.getNodeIds()[0]) })
    return broker.versions
  })
  const missing = groupApis.filter(n => !versions[API[n]])
  if (missing.length) throw new Skip(`broker does not advertise ${missing.join(', ')} (consumer groups not served yet)`)

  const topic = topicName('group')
  await withAdmin(admin => createTopic(admin, topic, 3))
  const N = 90
  await withProducer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 5 } }, p => p.send({
    topic, acks: -1, messages: Array.from({ length: N }, (_, i) => ({ key: `k${i}`, value: `g${i}` })),
  }))
  const consumer = kafka.consumer({ groupId: `${prefix}-group`, sessionTimeout: 10000, heartbeatInterval: 1000 })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    const seen = new Set()
    await new Promise((resolve, reject) => {
      consumer.run({
        eachMessage: async ({ message }) => {
          seen.add(message.value.toString())
          if (seen.size === N) resolve()
        },
      }).catch(reject)
    })
    assert.strictEqual(seen.size, N)
  } finally {
    await consumer.disconnect()
  }
  // The group committed its position (OffsetCommit), read back with
  // OffsetFetch; ListGroups (when served) lists it.
  await withAdmin(async admin => {
    const [{ partitions }] = await admin.fetchOffsets({ groupId: `${prefix}-group`, topics: [topic] })
    const high = await admin.fetchTopicOffsets(topic)
    const committed = partitions.map(p => [p.partition, p.offset]).sort()
    assert.deepStrictEqual(committed, high.map(h => [h.partition, h.high]).sort(), 'committed offsets = high watermarks')
    if (versions[API.ListGroups]) {
      const { groups } = await admin.listGroups()
      assert.ok(groups.some(g => g.groupId === `${prefix}-group`), `group not listed: ${JSON.stringify(groups)}`)
    }
  })
})

runAll().then(
  failed => process.exit(failed ? 1 : 0),
  e => {
    console.error(describeError(e))
    console.log('FAIL kafkajs_runner')
    process.exit(1)
  }
)
