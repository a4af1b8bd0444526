"""Administer topics with kafka-python's KafkaAdminClient.

    admin.py BOOTSTRAP create TOPIC PARTITIONS REPLICATION_FACTOR [NAME=VALUE]...
    admin.py BOOTSTRAP list
    admin.py BOOTSTRAP cluster
    admin.py BOOTSTRAP metadata TOPIC
    admin.py BOOTSTRAP delete TOPIC...
    admin.py BOOTSTRAP describe-configs TOPIC [NAME]...

create prints "created TOPIC"; list prints the topic names, sorted; cluster
prints "broker ID HOST:PORT" per broker and "controller ID"; metadata prints
"PARTITION leader=L replicas=R,.. isr=I,.." per partition, or the topic's
Kafka error as "error NAME"; delete
prints "deleted TOPIC"; describe-configs prints "NAME=VALUE" for the names
asked (all when none), sorted. A Kafka error is printed as its class name
and message, one line on stderr, exit 1 (e.g. TopicAlreadyExistsError).
"""

import sys

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import for_code


def check(code, what):
    if code != 0:
        err = for_code(code)
        raise err("%s" % what)


def main():
    bootstrap, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=20000)
    if cmd == "create":
        name, parts, rf = args[0], int(args[1]), int(args[2])
        configs = dict(kv.split("=", 1) for kv in args[3:])
        resp = admin.create_topics([NewTopic(name, parts, rf, topic_configs=configs)], timeout_ms=20000)
        for topic_error in resp.topic_errors:
            check(topic_error[1], topic_error[0])
            print("created", topic_error[0])
    elif cmd == "list":
        for t in sorted(admin.list_topics()):
            print(t)
    elif cmd == "cluster":
        c = admin.describe_cluster()
        for b in sorted(c["brokers"], key=lambda b: b["node_id"]):
            print("broker %d %s:%d" % (b["node_id"], b["host"], b["port"]))
        print("controller", c["controller_id"])
    elif cmd == "metadata":
        for t in admin.describe_topics([args[0]]):
            if t["error_code"] != 0:
                print("error", for_code(t["error_code"]).__name__)
                continue
            for p in sorted(t["partitions"], key=lambda p: p["partition"]):
                print("%d leader=%d replicas=%s isr=%s" % (
                    p["partition"], p["leader"], ",".join(map(str, p["replicas"])), ",".join(map(str, p["isr"]))))
    elif cmd == "delete":
        resp = admin.delete_topics(args, timeout_ms=20000)
        for name, code in resp.topic_error_codes:
            check(code, name)
            print("deleted", name)
    elif cmd == "describe-configs":
        name, want = args[0], set(args[1:])
        resps = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        for resp in resps:
            for res in resp.resources:
                check(res[0], "%s: %s" % (res[3], res[1]))
                entries = sorted((e[0], e[1]) for e in res[4] if not want or e[0] in want)
                for k, v in entries:
                    print("%s=%s" % (k, v))
    else:
        raise ValueError("unknown command %s" % cmd)
    admin.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        print("admin.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
