// Send the lines of stdin to a topic with kafkajs's producer.
//
//   node produce.js BOOTSTRAP TOPIC [--acks 0|1|-1] [--compression gzip]
//                   [--key-separator SEP] [--partition P] [--header K=V]...
//
// One record per line, sent one at a time (each send awaited), so that the
// printed "TOPIC PARTITION OFFSET" lines are in input order. Keyed records
// go where Kafka's Java client would put them (kafkajs's DefaultPartitioner
// is murmur2 since v2). Any failure is one line on stderr, exit 1. mk's
// testscripts (testdata/client_kafkajs_*.txtar) run it against real brokers.
'use strict'
const fs = require('fs')
const { Kafka, Partitioners, CompressionTypes, logLevel } = require('kafkajs')
const { parse } = require('./args')

async function main () {
  const a = parse(process.argv.slice(2), ['acks', 'compression', 'key-separator', 'partition'], ['header'])
  const [bootstrap, topic] = a._
  const kafka = new Kafka({ clientId: 'mk-test', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 } })
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false })
  await producer.connect()
  const headers = {}
  for (const h of a.header) {
    const i = h.indexOf('=')
    headers[h.slice(0, i)] = h.slice(i + 1)
  }
  const compression = a.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None
  const acks = a.acks === undefined ? -1 : Number(a.acks)
  const lines = fs.readFileSync(0, 'utf8').split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  for (const line of lines) {
    const m = { value: line, headers }
    if (a['key-separator'] !== undefined) {
      const i = line.indexOf(a['key-separator'])
      m.key = line.slice(0, i)
      m.value = line.slice(i + a['key-separator'].length)
    }
    if (a.partition !== undefined) m.partition = Number(a.partition)
    const res = await producer.send({ topic, messages: [m], acks, compression, timeout: 20000 })
    for (const r of res) console.log(r.topicName, r.partition, r.baseOffset === undefined ? -1 : r.baseOffset)
  }
  await producer.disconnect()
}

main().catch(e => {
  console.error(`produce.js: ${e.name}: ${e.message}`)
  process.exit(1)
})
