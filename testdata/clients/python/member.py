"""Be one member of a consumer group with kafka-python's KafkaConsumer
until SIGINT, reading a topic from the beginning (where the group has no
committed offset).

    member.py BOOTSTRAP TOPIC GROUP CLIENT_ID

Prints "PARTITION OFFSET VALUE" for every record as it arrives. On SIGINT it
closes the consumer (which commits what was read and leaves the group:
LeaveGroup) and exits 0; errors are one line on stderr and exit 1.
"""

import sys

from kafka import KafkaConsumer


def main():
    bootstrap, topic, group, client_id = sys.argv[1:5]
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        client_id=client_id,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        session_timeout_ms=10000,
        heartbeat_interval_ms=500,
    )
    try:
        while True:
            for batch in consumer.poll(timeout_ms=200).values():
                for r in batch:
                    print("%d %d %s" % (r.partition, r.offset, r.value.decode()), flush=True)
    except KeyboardInterrupt:
        pass
    consumer.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line, as the other programs
        print("member.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
