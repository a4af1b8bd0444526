"""Read a topic from the beginning with kafka-python's KafkaConsumer,
without a consumer group (assign and seek, as a plain consumer does).

    consume.py BOOTSTRAP TOPIC COUNT [--timeout SECONDS]

Reads until COUNT records have arrived, then prints one line per record,
by partition and offset: "PARTITION OFFSET KEY=VALUE [H=V,...]" (a null key
prints as "null"). Fewer than COUNT records before the timeout is an error
(exit 1), as is any failure; errors are one line on stderr.
"""

import argparse
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("count", type=int)
    p.add_argument("--timeout", type=float, default=20)
    a = p.parse_args()

    deadline = time.time() + a.timeout
    consumer = KafkaConsumer(
        bootstrap_servers=a.bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=30000,
    )
    parts = None
    while parts is None:
        parts = consumer.partitions_for_topic(a.topic)
        if parts is None:
            if time.time() > deadline:
                raise RuntimeError("no metadata for topic %s" % a.topic)
            time.sleep(0.05)  # metadata refresh interval, bounded by the deadline
    tps = [TopicPartition(a.topic, n) for n in sorted(parts)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    records = []
    while len(records) < a.count:
        left = deadline - time.time()
        if left <= 0:
            raise RuntimeError("%d of %d records before the timeout" % (len(records), a.count))
        for batch in consumer.poll(timeout_ms=int(min(left, 1) * 1000)).values():
            records.extend(batch)
    consumer.close(autocommit=False)
    records.sort(key=lambda r: (r.partition, r.offset))
    for r in records:
        key = "null" if r.key is None else r.key.decode()
        line = "%d %d %s=%s" % (r.partition, r.offset, key, r.value.decode())
        if r.headers:
            line += " " + ",".join("%s=%s" % (k, v.decode()) for k, v in r.headers)
        print(line)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        print("consume.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
