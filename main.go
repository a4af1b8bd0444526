// Command mk is a Kafka that is a directory: brokers, topics, producers,
// consumers and groups on one machine, out of plain files.
package main

import (
	"os"

	"mk/commands"
)

func main() {
	os.Exit(commands.Main())
}
