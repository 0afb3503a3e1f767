"""A MultiLang record processor for the Java KCL interop tests (kcl/tests/java_kcl.rs).

The MultiLangDaemon starts one such process per shard it holds. Every call is logged as
one JSON line in a file of its own (KCLJ_LOG_DIR/<worker>-<pid>.jsonl): the shard, each
record (sequence, sub-sequence, partition key, data), each checkpoint and its outcome, the
lifecycle calls, with wall-clock and monotonic times and the worker's name.

What it checkpoints is read from the JSON file KCLJ_CONTROL before every call (the test
may change it while the worker runs):
  checkpoint_every_batch  checkpoint at the last record of each batch
  checkpoint_at           data values: checkpoint at each such record when it is delivered
  checkpoint_on_shutdown  checkpoint at the last record delivered, in shutdown_requested
Shard end is always checkpointed (SHARD_END), as the KCL requires.
"""

import json
import os
import sys
import time

from amazon_kclpy import kcl
from amazon_kclpy.v3 import processor

WORKER = os.environ.get("KCLJ_WORKER", "java")
LOG_DIR = os.environ["KCLJ_LOG_DIR"]
CONTROL = os.environ.get("KCLJ_CONTROL", "")


class Log:
    def __init__(self):
        path = os.path.join(LOG_DIR, "%s-%d.jsonl" % (WORKER, os.getpid()))
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.shard = None

    def write(self, event, **fields):
        fields.update(
            ev=event,
            shard=self.shard,
            worker=WORKER,
            pid=os.getpid(),
            wall_us=time.time_ns() // 1000,
            mono_us=time.monotonic_ns() // 1000,
        )
        os.write(self.fd, (json.dumps(fields) + "\n").encode())


class Control:
    def __init__(self):
        self.mtime = None
        self.values = {}

    def get(self):
        try:
            mtime = os.stat(CONTROL).st_mtime_ns
            if mtime != self.mtime:
                with open(CONTROL) as f:
                    self.values = json.load(f)
                self.mtime = mtime
        except (OSError, ValueError):
            pass
        return self.values


class RecordingProcessor(processor.RecordProcessorBase):
    def __init__(self):
        self.log = Log()
        self.control = Control()
        self.last = None

    def checkpoint(self, checkpointer, seq, subseq, why):
        try:
            checkpointer.checkpoint(seq, subseq)
            self.log.write("checkpoint", seq=seq, subseq=subseq, why=why, error=None)
        except kcl.CheckpointError as e:
            self.log.write("checkpoint", seq=seq, subseq=subseq, why=why, error=str(e))

    def initialize(self, initialize_input):
        self.log.shard = initialize_input.shard_id
        self.log.write(
            "initialize",
            seq=initialize_input.sequence_number,
            subseq=initialize_input.sub_sequence_number,
        )

    def process_records(self, process_records_input):
        control = self.control.get()
        checkpoint_at = set(control.get("checkpoint_at", []))
        checkpointer = process_records_input.checkpointer
        for record in process_records_input.records:
            data = record.binary_data.decode("utf-8", "replace")
            seq, subseq = record.sequence_number, record.sub_sequence_number
            self.log.write("record", seq=seq, subseq=subseq, pk=record.partition_key, data=data)
            self.last = (seq, subseq)
            if data in checkpoint_at:
                self.checkpoint(checkpointer, seq, subseq, "at")
        if self.last is not None and control.get("checkpoint_every_batch"):
            self.checkpoint(checkpointer, self.last[0], self.last[1], "batch")

    def lease_lost(self, lease_lost_input):
        self.log.write("lease_lost")

    def shard_ended(self, shard_ended_input):
        self.log.write("shard_ended")
        self.checkpoint(shard_ended_input.checkpointer, None, None, "shard_end")

    def shutdown_requested(self, shutdown_requested_input):
        self.log.write("shutdown_requested")
        if self.control.get().get("checkpoint_on_shutdown") and self.last is not None:
            checkpointer = shutdown_requested_input.checkpointer
            self.checkpoint(checkpointer, self.last[0], self.last[1], "shutdown")


if __name__ == "__main__":
    kcl.KCLProcess(RecordingProcessor()).run()
