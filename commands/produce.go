package commands

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"mk/client"
	"mk/format"
	"mk/logdir"
)

func produceCommand() *cli.Command {
	return &cli.Command{
		Name:      "produce",
		Usage:     "send the lines of stdin to a topic, one record per line",
		ArgsUsage: "TOPIC",
		Description: `Each line of stdin is one record's value (a trailing \r is dropped). Records
with a key go to the partition Kafka's Java client would choose
(murmur2 of the key); records without one use a sticky partitioner.
Silent on success; the exit status says whether every record was
acknowledged (3: some were not; stderr says how many).

   seq 1000 | mk produce orders
   echo 'u1:{"total":12}' | mk produce orders --key-separator :
   mk consume a -o json -e | mk produce b --input json     # copy a topic

With --input json each line is an object as mk consume -o json prints it:
{"key":..., "value":..., "headers":[{"key":..,"value":..}], "partition":N,
"timestamp":MS}; every field is optional; "key_encoding"/"value_encoding":
"base64" carry binary data.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Aliases: []string{"k"}, Usage: "key for every record"},
			&cli.StringFlag{Name: "key-separator", Usage: "split each line at the first `SEP` into key and value"},
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Usage: "header `KEY=VALUE` for every record (repeatable)"},
			&cli.IntFlag{Name: "partition", Aliases: []string{"p"}, Value: -1, Usage: "send every record to this partition"},
			&cli.StringFlag{Name: "acks", Value: "all", Usage: "0 (do not wait), 1 (leader has it) or all (every in-sync replica has it)"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "how long to wait for a leader or for acks (delivery.timeout.ms)"},
			&cli.StringFlag{Name: "input", Value: "text", Usage: "text (one value per line) or json (one record object per line)"},
			&cli.BoolFlag{Name: "print-offsets", Usage: "print TOPIC PARTITION OFFSET for every acknowledged record"},
			&cli.IntFlag{Name: "batch-size", Value: 16384, Usage: "bytes per record batch (batch.size)"},
		},
	}
}

// parseAcks reads --acks.
func parseAcks(s string) (int, error) {
	switch strings.ToLower(s) {
	case "0":
		return client.AcksNone, nil
	case "1":
		return client.AcksLeader, nil
	case "all", "-1":
		return client.AcksAll, nil
	}
	return 0, format.Usagef("--acks %q: use 0, 1 or all", s)
}

func parseHeaders(hs []string) ([]logdir.Header, error) {
	var out []logdir.Header
	for _, h := range hs {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, format.Usagef("--header %q: want KEY=VALUE", h)
		}
		out = append(out, logdir.Header{Key: []byte(k), Value: []byte(v)})
	}
	return out, nil
}
