#!/usr/bin/env node
// The npm package aws-kinesis-agg on the benchmark workloads (see shared/bench/gen_workloads.py),
// measured like shared/bench/bench_python.py:
//   aggregate:   RecordAggregator.aggregateRecords(records, forceFlush=true, onReady) collecting
//                every encoded record (the library serializes and MD5s each one).
//   deaggregate: deaggregateSync(record, computeChecksums=true, ...) over every encoded record,
//                passed in the SDK v3 shape ({Data, PartitionKey, ...}).
// Only the library calls are timed; loading and the round-trip check are not.
// MB/s = payload bytes (data only) / s / 1e6.  Usage: node bench_node.js DATA_DIR [w1 w2 w3] [--runs N]
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { RecordAggregator, deaggregateSync } = require('aws-kinesis-agg');

function load(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 4) !== 'AGGW') throw new Error(file + ': not an AGGW file');
  const n = buf.readUInt32LE(4);
  let off = 8;
  const records = new Array(n);
  for (let i = 0; i < n; i++) {
    const kl = buf.readUInt16LE(off); off += 2;
    const pk = buf.toString('utf8', off, off + kl); off += kl;
    const dl = buf.readUInt32LE(off); off += 4;
    records[i] = { partitionKey: pk, data: buf.subarray(off, off + dl) };
    off += dl;
  }
  if (off !== buf.length) throw new Error(file + ': trailing bytes');
  return records;
}

function aggregate(records) {
  const out = [];
  const agg = new RecordAggregator();
  agg.aggregateRecords(records, true, (err, encoded) => {
    if (err) throw err;
    out.push(encoded);
  });
  return out;
}

function deaggregate(encoded) {
  const users = [];
  for (let i = 0; i < encoded.length; i++) {
    const e = encoded[i];
    deaggregateSync({ Data: e.data, PartitionKey: e.partitionKey, SequenceNumber: String(i),
      ApproximateArrivalTimestamp: 0 }, true, (err, recs) => {
      if (err) throw err;
      for (const r of recs) users.push(r);
    });
  }
  return users;
}

function check(records, users) {
  if (users.length !== records.length) throw new Error('round trip: ' + users.length + ' of ' + records.length);
  for (let i = 0; i < records.length; i++) {
    // Records given in the SDK v3 shape come back in it: PartitionKey, Data (base64).
    const data = Buffer.from(users[i].Data, 'base64');
    if (users[i].PartitionKey !== records[i].partitionKey || !data.equals(records[i].data)) {
      throw new Error('round trip mismatch at ' + i);
    }
  }
}

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

function main() {
  const args = process.argv.slice(2);
  const dir = args.shift();
  let runs = 3;
  const workloads = [];
  while (args.length) {
    const a = args.shift();
    if (a === '--runs') runs = parseInt(args.shift(), 10); else workloads.push(a);
  }
  for (const w of (workloads.length ? workloads : ['w1', 'w2', 'w3'])) {
    const records = load(path.join(dir, w + '.bin'));
    const payload = records.reduce((s, r) => s + r.data.length, 0);
    const times = { aggregate: [], deaggregate: [] };
    let encoded = [];
    for (let run = 0; run < runs; run++) {
      let t = process.hrtime.bigint();
      encoded = aggregate(records);
      times.aggregate.push(Number(process.hrtime.bigint() - t) / 1e9);
      t = process.hrtime.bigint();
      const users = deaggregate(encoded);
      times.deaggregate.push(Number(process.hrtime.bigint() - t) / 1e9);
      check(records, users);
    }
    const md5 = crypto.createHash('md5');
    for (const e of encoded) md5.update(Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data, 'base64'));
    const outputMd5 = md5.digest('hex');
    for (const op of ['aggregate', 'deaggregate']) {
      const med = median(times[op]);
      console.log(JSON.stringify({ lib: 'node aws-kinesis-agg 4.2.8', workload: w, op,
        runs_s: times[op], median_s: med, records: records.length, payload_bytes: payload,
        records_per_s: Math.round(records.length / med), MB_per_s: +(payload / med / 1e6).toFixed(2),
        agg_records: encoded.length, agg_output_md5: outputMd5 }));
    }
  }
}

main();
