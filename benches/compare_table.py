#!/usr/bin/env python3
"""Renders the Markdown table of benches/compare.sh from its JSON lines (DIR/{rust,python,node}.jsonl)."""
import json, os, platform, subprocess, sys
out = sys.argv[1]
rows = {}
for lib in ("rust", "python", "node"):
    for line in open(os.path.join(out, lib + ".jsonl")):
        d = json.loads(line)
        rows[(lib, d["workload"], d["op"])] = d
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout.strip()
print("Measured on %s (%d cores), %s, one run of benches/compare.sh; median of runs; MB = 10^6 payload bytes.\n"
      % (cpu, os.cpu_count(), platform.platform()))
print("| workload | operation | kinesis-agg (Rust) | Python aws-kinesis-agg | Node aws-kinesis-agg | output bytes |")
print("|---|---|---|---|---|---|")
fmt = lambda d: "%s rec/s, %.0f MB/s" % (format(int(d["records_per_s"]), ","), d.get("mb_per_s", d.get("MB_per_s")))
for w in ("w1", "w2", "w3"):
    for op in ("aggregate", "aggregate_seal_each", "deaggregate", "deaggregate_single"):
        r = rows.get(("rust", w, op))
        if r is None:
            continue
        base = op.replace("_seal_each", "").replace("_single", "")
        p, n = rows.get(("python", w, base)), rows.get(("node", w, base))
        def same_as(lib, d):
            if d is None:
                return ""
            if d["agg_output_md5"] == r["agg_output_md5"]:
                return "%s: identical" % lib
            return "%s: differs (%d vs our %d aggregates)" % (lib, d["agg_records"], r["aggregates"])
        same = "" if op != "aggregate" else "; ".join(x for x in (same_as("Python", p), same_as("Node", n)) if x)
        print("| %s | %s | %s | %s | %s | %s |" % (w.upper(), op, fmt(r), fmt(p) if p and op == base else "", fmt(n) if n and op == base else "", same))
