#!/usr/bin/env python3
"""Cross-implementation checks against the official Python library (aws-kinesis-agg).

  interop.py check-rust DIR          decode our aggregates (written by `interop emit`) with
                                     aws_kinesis_agg and compare with DIR/manifest.json
  interop.py make-python DIR         write aggregates made by aws_kinesis_agg's
                                     RecordAggregator, with a manifest, for `interop verify`
  interop.py check-deagg BIN VECDIR  run our `deagg` example on every vector and compare its
                                     JSON with the vector's expected user records
"""
import base64
import hashlib
import json
import os
import random
import subprocess
import sys

import aws_kinesis_agg
# The deaggregator module puts the package directory on sys.path, which its generated
# messages_pb2 needs (it imports config_pb2 as a top-level module); import it first.
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg import messages_pb2

MAGIC = aws_kinesis_agg.MAGIC


def hash_key(partition_key, explicit_hash_key):
    if explicit_hash_key is not None:
        return int(explicit_hash_key)
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def fail(msg):
    print("interop.py: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check_rust(d):
    manifest = json.load(open(os.path.join(d, "manifest.json")))
    users_total = 0
    for entry in manifest:
        name = entry["file"]
        blob = open(os.path.join(d, name), "rb").read()
        expected = entry["user_records"]
        if len(blob) + len(entry["partition_key"].encode("utf-8")) > entry["max_size"]:
            fail("%s: %d bytes over the limit %d" % (name, len(blob), entry["max_size"]))
        first = expected[0]
        if int(entry["explicit_hash_key"]) != hash_key(first["partition_key"], first["explicit_hash_key"]):
            fail("%s: outer explicit hash key is not the first record's hash key" % name)
        record = {"Data": blob, "PartitionKey": entry["partition_key"], "SequenceNumber": "1",
                  "ApproximateArrivalTimestamp": 0}
        users = list(iter_deaggregate_records(record, data_format="Boto3"))
        if not entry["aggregated"]:
            if len(expected) != 1 or len(users) != 1 or "aggregated" in users[0]["kinesis"]:
                fail("%s: a raw record must pass through as itself" % name)
            if users[0]["kinesis"]["data"] != base64.b64decode(expected[0]["data_b64"]):
                fail("%s: raw data differs" % name)
            if entry["partition_key"] != expected[0]["partition_key"]:
                fail("%s: raw record must keep its partition key" % name)
            users_total += 1
            continue
        if blob[:4] != MAGIC or hashlib.md5(blob[4:-16]).digest() != blob[-16:]:
            fail("%s: bad magic or MD5" % name)
        if entry["partition_key"] != "a":
            fail("%s: aggregate outer partition key is not 'a'" % name)
        ar = messages_pb2.AggregatedRecord()
        ar.ParseFromString(blob[4:-16])
        if len(set(ar.partition_key_table)) != len(ar.partition_key_table):
            fail("%s: partition key table not deduplicated" % name)
        if len(users) != len(expected) or len(ar.records) != len(expected):
            fail("%s: %d user records, expected %d" % (name, len(users), len(expected)))
        for i, (user, want, mr) in enumerate(zip(users, expected, ar.records)):
            k = user["kinesis"]
            # The library's own explicitHashKey is wrong for records without an index (it
            # reads entry 0 of the table), so the index is read from the protobuf here.
            ehk = ar.explicit_hash_key_table[mr.explicit_hash_key_index] \
                if mr.HasField("explicit_hash_key_index") else None
            if (k["partitionKey"], ehk, base64.b64decode(k["data"]), k["subSequenceNumber"]) != \
                    (want["partition_key"], want["explicit_hash_key"], base64.b64decode(want["data_b64"]), i):
                fail("%s: user record %d differs" % (name, i))
        users_total += len(users)
    print("interop.py: aws_kinesis_agg decoded %d Rust records (%d user records) exactly"
          % (len(manifest), users_total))


def random_key(rng):
    alphabet = rng.choice(["abcdefghijklmnopqrstuvwxyz0123456789", "ключраздела日本語🎉é"])
    n = 256 if rng.random() < 0.05 else rng.randint(1, 24)
    return "".join(rng.choice(alphabet) for _ in range(n))


def make_python(d):
    os.makedirs(d, exist_ok=True)
    rng = random.Random(20261122)
    manifest = []

    def write(agg_record, users):
        pk, ehk, blob = agg_record.get_contents()
        name = "python-%04d.bin" % len(manifest)
        open(os.path.join(d, name), "wb").write(blob)
        manifest.append({"file": name, "user_records": users})

    for case in range(40):
        agg = RecordAggregator(max_size=rng.choice([2048, 51200, 1024 * 1024]))
        keys = [random_key(rng) for _ in range(rng.randint(1, 30))]
        held = []
        for _ in range(rng.randint(1, 150)):
            pk = rng.choice(keys)
            size = rng.choice([0, rng.randint(0, 300), rng.randint(0, 300), rng.randint(1000, 1500)])
            data = rng.randbytes(size)
            ehk = str(rng.getrandbits(128)) if rng.random() < 0.25 else None
            user = {"partition_key": pk, "explicit_hash_key": ehk,
                    "data_b64": base64.b64encode(data).decode()}
            full = agg.add_user_record(pk, data, ehk)
            if full is not None:
                write(full, held)
                held = []
            held.append(user)
        last = agg.clear_and_get()
        if last is not None:
            write(last, held)
    json.dump(manifest, open(os.path.join(d, "manifest.json"), "w"), indent=1)
    print("interop.py: aws_kinesis_agg wrote %d aggregates to %s" % (len(manifest), d))


def check_deagg(binary, vectors):
    index = json.load(open(os.path.join(vectors, "index.json")))
    for v in index["vectors"]:
        spec = json.load(open(os.path.join(vectors, v["json"])))
        out = json.loads(subprocess.run([binary, os.path.join(vectors, v["file"])],
                                        check=True, capture_output=True).stdout)
        if spec.get("not_aggregated"):
            if out != {"not_aggregated": True}:
                fail("deagg %s: expected not_aggregated" % v["name"])
            continue
        want = spec["user_records"]
        if len(out) != len(want):
            fail("deagg %s: %d records, expected %d" % (v["name"], len(out), len(want)))
        for got, exp in zip(out, want):
            for field in ("partition_key", "explicit_hash_key", "data_len", "data_sha256"):
                if got[field] != exp[field]:
                    fail("deagg %s: %s differs" % (v["name"], field))
            if "data_b64" in exp and got["data_b64"] != exp["data_b64"]:
                fail("deagg %s: data differs" % v["name"])
    print("interop.py: deagg example output matches all %d vectors" % len(index["vectors"]))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "check-rust" and len(sys.argv) == 3:
        check_rust(sys.argv[2])
    elif cmd == "make-python" and len(sys.argv) == 3:
        make_python(sys.argv[2])
    elif cmd == "check-deagg" and len(sys.argv) == 4:
        check_deagg(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
