"""Send the lines of stdin to a topic with kafka-python's KafkaProducer.

    produce.py BOOTSTRAP TOPIC [--acks 0|1|all] [--compression gzip]
               [--key-separator SEP] [--partition P] [--header K=V]...

One record per line; with --key-separator a line is KEY SEP VALUE. Prints
"TOPIC PARTITION OFFSET" for every acknowledged record, in input order (an
acks=0 send has no offset: -1). Any failure is one line on stderr, exit 1.
mk's testscripts (testdata/client_python_*.txtar) run it against real
brokers.
"""

import argparse
import sys

from kafka import KafkaProducer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("--acks", default="all")
    p.add_argument("--compression", default=None)
    p.add_argument("--key-separator", default=None)
    p.add_argument("--partition", type=int, default=None)
    p.add_argument("--header", action="append", default=[])
    a = p.parse_args()

    acks = a.acks if a.acks == "all" else int(a.acks)
    headers = []
    for h in a.header:
        k, _, v = h.partition("=")
        headers.append((k, v.encode()))
    producer = KafkaProducer(
        bootstrap_servers=a.bootstrap.split(","),
        acks=acks,
        compression_type=a.compression,
        request_timeout_ms=20000,
        max_block_ms=20000,
        retries=3,
    )
    futures = []
    for line in sys.stdin.read().splitlines():
        key = None
        value = line
        if a.key_separator is not None:
            key, _, value = line.partition(a.key_separator)
            key = key.encode()
        futures.append(
            producer.send(a.topic, value=value.encode(), key=key, partition=a.partition, headers=headers or None)
        )
    producer.flush(timeout=30)
    for f in futures:
        md = f.get(timeout=30)
        print(md.topic, md.partition, md.offset)
    producer.close(timeout=10)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line, as mk's own commands report errors
        print("produce.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
