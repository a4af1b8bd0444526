// Administer topics with kafkajs's admin client.
//
//   node admin.js BOOTSTRAP create TOPIC PARTITIONS REPLICATION_FACTOR [NAME=VALUE]...
//   node admin.js BOOTSTRAP list
//   node admin.js BOOTSTRAP cluster
//   node admin.js BOOTSTRAP metadata TOPIC
//   node admin.js BOOTSTRAP offsets TOPIC
//   node admin.js BOOTSTRAP delete TOPIC...
//   node admin.js BOOTSTRAP describe-configs TOPIC [NAME]...
//   node admin.js BOOTSTRAP validate TOPIC PARTITIONS REPLICATION_FACTOR
//   node admin.js BOOTSTRAP alter-configs TOPIC NAME=VALUE...
//   node admin.js BOOTSTRAP create-partitions TOPIC COUNT
//   node admin.js BOOTSTRAP delete-records TOPIC PARTITION OFFSET
//   node admin.js BOOTSTRAP set-offsets GROUP TOPIC PARTITION=OFFSET...
//   node admin.js BOOTSTRAP fetch-offsets GROUP TOPIC
//   node admin.js BOOTSTRAP groups
//   node admin.js BOOTSTRAP delete-groups GROUP...
//
// create prints "created TOPIC"; list the topic names, sorted; cluster
// "broker ID HOST:PORT" per broker and "controller ID"; metadata one
// line per partition, "PARTITION leader=L replicas=R,.. isr=I,.."; offsets
// one line per partition, "PARTITION low=L high=H" (ListOffsets earliest
// and latest); delete "deleted TOPIC"; describe-configs "NAME=VALUE
// source=S" for the names asked (all when none), sorted. A failure is its
// kafkajs error type and message, one line on stderr, exit 1 (with the
// Kafka error names of an aggregate error's parts). validate is a
// validate-only create ("valid TOPIC"); alter-configs the legacy
// AlterConfigs ("altered TOPIC"); create-partitions prints "partitions
// TOPIC COUNT"; delete-records "deleted TOPIC PARTITION below OFFSET";
// set-offsets "set GROUP" (kafkajs joins the group to commit); fetch-offsets
// "PARTITION offset=O" per partition; groups "GROUP PROTOCOL_TYPE" sorted;
// delete-groups "deleted GROUP".
'use strict'
const { Kafka, ConfigResourceTypes, logLevel } = require('kafkajs')

const sources = { 1: 'topic', 2: 'dynamic-broker', 3: 'dynamic-default-broker', 4: 'static-broker', 5: 'default', 6: 'dynamic-broker-logger' }

async function main () {
  const [bootstrap, cmd, ...args] = process.argv.slice(2)
  const kafka = new Kafka({ clientId: 'mk-test', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 } })
  const admin = kafka.admin()
  await admin.connect()
  try {
    switch (cmd) {
      case 'create': {
        const [topic, partitions, rf, ...kvs] = args
        const configEntries = kvs.map(kv => { const i = kv.indexOf('='); return { name: kv.slice(0, i), value: kv.slice(i + 1) } })
        const created = await admin.createTopics({ topics: [{ topic, numPartitions: Number(partitions), replicationFactor: Number(rf), configEntries }], waitForLeaders: true, timeout: 20000 })
        if (!created) throw Object.assign(new Error(`topic ${topic} was not created (it exists)`), { name: 'TopicExists' })
        console.log('created', topic)
        break
      }
      case 'list':
        for (const t of (await admin.listTopics()).sort()) console.log(t)
        break
      case 'cluster': {
        const c = await admin.describeCluster()
        for (const b of c.brokers.sort((x, y) => x.nodeId - y.nodeId)) console.log(`broker ${b.nodeId} ${b.host}:${b.port}`)
        console.log(`controller ${c.controller}`)
        break
      }
      case 'metadata': {
        const md = await admin.fetchTopicMetadata({ topics: [args[0]] })
        for (const p of md.topics[0].partitions.sort((a, b) => a.partitionId - b.partitionId)) {
          console.log(`${p.partitionId} leader=${p.leader} replicas=${p.replicas.join(',')} isr=${p.isr.join(',')}`)
        }
        break
      }
      case 'offsets': {
        const offsets = await admin.fetchTopicOffsets(args[0])
        for (const p of offsets.sort((a, b) => a.partition - b.partition)) console.log(`${p.partition} low=${p.low} high=${p.high}`)
        break
      }
      case 'delete':
        await admin.deleteTopics({ topics: args, timeout: 20000 })
        for (const t of args) console.log('deleted', t)
        break
      case 'describe-configs': {
        const [topic, ...names] = args
        const res = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: names.length ? names : undefined }] })
        const entries = res.resources[0].configEntries.map(e => `${e.configName}=${e.configValue} source=${sources[e.configSource] || e.configSource}`)
        for (const e of entries.sort()) console.log(e)
        break
      }
      case 'validate': {
        const [topic, partitions, rf] = args
        await admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic, numPartitions: Number(partitions), replicationFactor: Number(rf) }] })
        console.log('valid', topic)
        break
      }
      case 'alter-configs': {
        const [topic, ...kvs] = args
        const configEntries = kvs.map(kv => { const i = kv.indexOf('='); return { name: kv.slice(0, i), value: kv.slice(i + 1) } })
        await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries }] })
        console.log('altered', topic)
        break
      }
      case 'create-partitions':
        await admin.createPartitions({ topicPartitions: [{ topic: args[0], count: Number(args[1]) }], timeout: 20000 })
        console.log('partitions', args[0], args[1])
        break
      case 'delete-records':
        await admin.fetchTopicMetadata({ topics: [args[0]] }) // kafkajs finds the leaders in its cached metadata
        await admin.deleteTopicRecords({ topic: args[0], partitions: [{ partition: Number(args[1]), offset: args[2] }] })
        console.log('deleted', args[0], args[1], 'below', args[2])
        break
      case 'set-offsets': {
        const [groupId, topic, ...pos] = args
        const partitions = pos.map(po => { const [p, o] = po.split('='); return { partition: Number(p), offset: o } })
        await admin.setOffsets({ groupId, topic, partitions })
        console.log('set', groupId)
        break
      }
      case 'fetch-offsets': {
        const res = await admin.fetchOffsets({ groupId: args[0], topics: [args[1]] })
        for (const p of res[0].partitions.sort((a, b) => a.partition - b.partition)) console.log(`${p.partition} offset=${p.offset}`)
        break
      }
      case 'groups': {
        const res = await admin.listGroups()
        for (const g of res.groups.map(g => `${g.groupId} ${g.protocolType}`).sort()) console.log(g)
        break
      }
      case 'delete-groups':
        for (const r of await admin.deleteGroups(args)) console.log('deleted', r.groupId)
        break
      default:
        throw new Error(`unknown command ${cmd}`)
    }
  } finally {
    await admin.disconnect()
  }
}

main().catch(e => {
  const parts = (e.errors || e.groups || []).map(p => (p.error || p).type).filter(t => t)
  console.error(`admin.js: ${e.name}: ${e.message}${parts.length ? ' (' + parts.join(', ') + ')' : ''}`)
  process.exit(1)
})
