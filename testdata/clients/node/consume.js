// Consume a topic from the beginning as a member of a consumer group with
// kafkajs's consumer (kafkajs has no group-less consumer).
//
//   node consume.js BOOTSTRAP TOPIC GROUP COUNT [--timeout SECONDS]
//
// Reads until COUNT records have arrived, commits, then prints one line per
// record by partition and offset: "PARTITION OFFSET KEY=VALUE [H=V,...]" (a
// null key prints as "null"). Fewer than COUNT records before the timeout
// is an error (exit 1); errors are one line on stderr.
'use strict'
const { Kafka, logLevel } = require('kafkajs')
const { parse } = require('./args')

async function main () {
  const a = parse(process.argv.slice(2), ['timeout'], [])
  const [bootstrap, topic, groupId, count] = a._
  const timeout = Number(a.timeout || 30) * 1000
  const kafka = new Kafka({ clientId: 'mk-test', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING })
  // A short max wait: disconnect waits for the fetch in flight, a long poll
  // of up to maxWaitTimeInMs on a partition with nothing new.
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000, maxWaitTimeInMs: 500 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const records = []
  let done
  const all = new Promise(resolve => { done = resolve })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      records.push({ partition, message })
      if (records.length >= Number(count)) done()
    }
  })
  let timer
  const expired = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${records.length} of ${count} records before the timeout`)), timeout)
  })
  try {
    await Promise.race([all, expired])
  } finally {
    clearTimeout(timer)
    await consumer.disconnect()
  }
  records.sort((x, y) => x.partition - y.partition || Number(x.message.offset) - Number(y.message.offset))
  for (const { partition, message: m } of records) {
    const key = m.key === null ? 'null' : m.key.toString()
    let line = `${partition} ${m.offset} ${key}=${m.value.toString()}`
    const hs = Object.entries(m.headers || {})
    if (hs.length) line += ' ' + hs.map(([k, v]) => `${k}=${v.toString()}`).join(',')
    console.log(line)
  }
}

main().catch(e => {
  console.error(`consume.js: ${e.name}: ${e.message}`)
  process.exit(1)
})
