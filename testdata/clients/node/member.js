// Be one member of a consumer group with kafkajs's consumer until SIGINT,
// reading a topic from the beginning (where the group has no committed
// offset).
//
//   node member.js BOOTSTRAP TOPIC GROUP CLIENT_ID
//
// Prints "PARTITION OFFSET VALUE" for every record as it arrives. On SIGINT
// it disconnects (kafkajs commits what was read and leaves the group:
// LeaveGroup) and exits 0; errors are one line on stderr and exit 1.
'use strict'
const { Kafka, logLevel } = require('kafkajs')

async function main () {
  const [bootstrap, topic, groupId, clientId] = process.argv.slice(2)
  const kafka = new Kafka({ clientId, brokers: bootstrap.split(','), logLevel: logLevel.NOTHING })
  // A short max wait: disconnect waits for the fetch in flight.
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 200 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let stopping = false
  process.on('SIGINT', async () => {
    if (stopping) return
    stopping = true
    try {
      await consumer.disconnect()
      process.exit(0)
    } catch (e) {
      console.error(`member.js: ${e.name}: ${e.message}`)
      process.exit(1)
    }
  })
  consumer.on(consumer.events.CRASH, e => {
    console.error(`member.js: crash: ${e.payload.error.message}`)
    process.exit(1)
  })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      process.stdout.write(`${partition} ${message.offset} ${message.value.toString()}\n`)
    }
  })
}

main().catch(e => {
  console.error(`member.js: ${e.name}: ${e.message}`)
  process.exit(1)
})
