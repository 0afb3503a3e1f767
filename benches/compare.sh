#!/usr/bin/env bash
# Side-by-side aggregation benchmark on the shared workloads: this crate, the official
# Python library (aws-kinesis-agg on PyPI) and the official Node library (aws-kinesis-agg on
# npm), one after another in one run, single thread each. Prints a Markdown table.
#
#   benches/compare.sh [DATA_DIR] [RUNS]      (DATA_DIR defaults to ./bench-data)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${1:-$root/bench-data}
runs=${2:-3}
shared=$root/../shared/bench
out=$root/target/bench-compare
mkdir -p "$out"

[ -f "$data/w1.bin" ] || python3 "$shared/gen_workloads.py" "$data"
python3 -c 'import aws_kinesis_agg, six' 2>/dev/null || pip install -q aws-kinesis-agg six
[ -d "$root/benches/node/node_modules/aws-kinesis-agg" ] || (cd "$root/benches/node" && npm install --no-audit --no-fund --silent)
cargo build --release -q -p kinesis-agg --example agg_throughput

echo "rust..." >&2
"$root/target/release/examples/agg_throughput" "$data" w1 w2 w3 --runs "$runs" > "$out/rust.jsonl"
echo "python..." >&2
python3 "$shared/bench_python.py" --runs "$runs" --data-dir "$data" w1 w2 w3 > "$out/python.jsonl" 2>/dev/null
echo "node..." >&2
node "$root/benches/node/bench_node.js" "$data" w1 w2 w3 --runs "$runs" > "$out/node.jsonl"

python3 "$root/benches/compare_table.py" "$out"
