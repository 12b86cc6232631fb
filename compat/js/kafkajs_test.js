// kafkajs against a kafe broker.
//
// Usage: node kafkajs_test.js BOOTSTRAP
//
// Admin (create, duplicate, metadata, describe configs, delete), producing with acks 0/1/-1, keys,
// headers and null values, the four codecs, the idempotent producer, watermarks and offsets by
// timestamp, and a group consumer reading a topic back and committing. Prints one
// `produced TOPIC COUNT FIRST_VALUE` line per topic, which the test harness checks with kcat. Any
// failure exits non-zero.
const assert = require('assert')
const { Kafka, CompressionTypes, CompressionCodecs, logLevel, Partitioners } = require('kafkajs')
CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy')
const LZ4 = require('kafkajs-lz4')
CompressionCodecs[CompressionTypes.LZ4] = new LZ4().codec
CompressionCodecs[CompressionTypes.ZSTD] = require('./zstd-codec')

const kafka = new Kafka({ clientId: 'kafe-compat', brokers: [process.argv[2]], logLevel: logLevel.WARN })
const log = (msg) => console.log(`kafkajs: ${msg}`)

async function main() {
  const admin = kafka.admin()
  await admin.connect()
  assert.strictEqual(await admin.createTopics({ topics: [{ topic: 'kj-main', numPartitions: 3 }] }), true)
  assert.strictEqual(await admin.createTopics({ topics: [{ topic: 'kj-main', numPartitions: 3 }] }), false)
  const meta = await admin.fetchTopicMetadata({ topics: ['kj-main'] })
  assert.strictEqual(meta.topics[0].partitions.length, 3)
  await admin.createTopics({ topics: [{ topic: 'kj-doomed' }] })
  await admin.deleteTopics({ topics: ['kj-doomed'] })
  assert.ok(!(await admin.listTopics()).includes('kj-doomed'))
  const configs = await admin.describeConfigs({ resources: [{ type: 2, name: 'kj-main' }], includeSynonyms: false })
  const retention = configs.resources[0].configEntries.find((c) => c.configName === 'retention.ms')
  assert.strictEqual(retention.configValue, '604800000')
  log('admin: create, duplicate, metadata, describe configs, delete')

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  for (const acks of [0, 1, -1]) {
    const res = await producer.send({
      topic: 'kj-main',
      acks,
      messages: Array.from({ length: 30 }, (_, i) => ({ key: `key-${i % 4}`, value: `acks=${acks} ${i}`, headers: { h: 'x' } })),
    })
    if (acks !== 0) assert.ok(res.every((r) => r.errorCode === 0), JSON.stringify(res))
  }
  await producer.send({ topic: 'kj-main', acks: -1, messages: [{ key: 'tomb', value: null }, { value: 'no key' }] })
  const offsets = await admin.fetchTopicOffsets('kj-main')
  const total = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0)
  assert.strictEqual(total, 92)
  log('acks 0/1/-1 with keys and headers, null value and key; watermarks')

  const t0 = Date.now() - 60000
  for (const [name, codec] of Object.entries({ gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD })) {
    const topic = `kj-${name}`
    await admin.createTopics({ topics: [{ topic }] })
    const res = await producer.send({
      topic,
      acks: -1,
      compression: codec,
      messages: Array.from({ length: 200 }, (_, i) => ({ value: `${name} ${i}`, timestamp: String(t0 + i) })),
    })
    assert.strictEqual(res[0].baseOffset, '0')
    const [byTime] = await admin.fetchTopicOffsetsByTimestamp(topic, t0 + 50)
    assert.strictEqual(byTime.offset, '50', `${name}: offset by timestamp`)
    console.log(`produced ${topic} 200 ${name} 0`)
  }
  await producer.disconnect()
  log('gzip, snappy, lz4, zstd batches; offsets by timestamp')

  const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await idempotent.connect()
  await admin.createTopics({ topics: [{ topic: 'kj-idem' }] })
  for (let i = 0; i < 5; i++) {
    const res = await idempotent.send({ topic: 'kj-idem', acks: -1, messages: Array.from({ length: 100 }, (_, j) => ({ value: `idem ${i * 100 + j}` })) })
    assert.strictEqual(res[0].baseOffset, String(i * 100))
  }
  await idempotent.disconnect()
  console.log('produced kj-idem 500 idem 0')
  log('idempotent producer')

  const consumer = kafka.consumer({ groupId: 'kj-group', sessionTimeout: 10000, heartbeatInterval: 500 })
  await consumer.connect()
  await consumer.subscribe({ topic: 'kj-zstd', fromBeginning: true })
  const seen = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`group consumer saw ${seen.length} of 200`)), 60000)
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString())
        if (seen.length === 200) {
          clearTimeout(timer)
          resolve()
        }
      },
    })
  })
  await consumer.disconnect()
  assert.strictEqual(seen[0], 'zstd 0')
  const committed = await admin.fetchOffsets({ groupId: 'kj-group', topics: ['kj-zstd'] })
  assert.strictEqual(committed[0].partitions[0].offset, '200')
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId)
  assert.ok(groups.includes('kj-group'), JSON.stringify(groups))
  log('group consumer: subscribe, consume, commit; admin fetches offsets and lists groups')
  await admin.disconnect()
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
