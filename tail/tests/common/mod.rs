//! Shared helpers of the tail tests: the harness process, log writers that rotate, and the
//! stream read back de-aggregated.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kinesis_agg::{Deaggregated, Deaggregator, HashRange};
use testkit::{LocalAws, streams};

/// One user record read back.
#[derive(Clone, Debug)]
pub(crate) struct Read {
    pub(crate) shard: String,
    pub(crate) sequence: String,
    pub(crate) line: String,
}

/// Every user record of the stream, de-aggregated with each shard's hash range rule.
pub(crate) async fn read_stream(aws: &LocalAws, stream: &str) -> Vec<Read> {
    let client = aws.kinesis_client();
    let mut out = Vec::new();
    for shard in streams::list_shards(&client, stream).await.unwrap() {
        let r = shard.hash_key_range().unwrap();
        let range = HashRange::from_decimal(r.starting_hash_key(), r.ending_hash_key()).unwrap();
        for record in streams::read_shard(&client, stream, shard.shard_id())
            .await
            .unwrap()
        {
            let data = Bytes::from(record.data().as_ref().to_vec());
            let datas: Vec<Bytes> = match Deaggregator::for_hash_range(range).deaggregate(data) {
                Deaggregated::NotAggregated(d) => vec![d],
                Deaggregated::Aggregated(a) => a.records().map(|s| s.data).collect(),
                Deaggregated::Dropped(a) => {
                    panic!("{} sub-records dropped by the hash range rule", a.len())
                }
            };
            for d in datas {
                out.push(Read {
                    shard: shard.shard_id().to_owned(),
                    sequence: record.sequence_number().to_owned(),
                    line: String::from_utf8(d.to_vec()).unwrap(),
                });
            }
        }
    }
    out
}

/// The harness binary (what `kinesis tail` replaces) as a child process.
pub(crate) struct Agent {
    child: Child,
}

impl Agent {
    /// Starts the harness; its log goes to `home/agent.log` (appended).
    pub(crate) fn start(aws: &LocalAws, home: &Path, args: &[&str]) -> Agent {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("agent.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kinesis-tail-test"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("AWS_ENDPOINT_URL_KINESIS", aws.kinesis_endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
            .env("AWS_SECRET_ACCESS_KEY", "local-secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("KINESIS_TAIL_LOG", "kinesis_tail=debug,info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("harness starts");
        Agent { child }
    }

    /// SIGKILL: no chance to flush or checkpoint.
    pub(crate) fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the summary it prints.
    pub(crate) fn stop(self) -> serde_json::Value {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = self.child.wait_with_output().unwrap();
        assert!(out.status.success(), "harness failed: {:?}", out.status);
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Waits (polling every 20 ms) until `ready` holds, up to `timeout`.
pub(crate) async fn wait_until<F: FnMut() -> bool>(timeout: Duration, what: &str, mut ready: F) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lines of one file content (`tag`), as written, and the inode that held them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Content {
    pub(crate) lines: Vec<String>,
    pub(crate) ino: u64,
}

impl Content {
    /// The bytes as written.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        self.lines
            .iter()
            .flat_map(|l| l.bytes().chain(std::iter::once(b'\n')))
            .collect()
    }

    /// Whether a checkpoint's head fingerprint (MD5 of the first `len` bytes, first 8 bytes
    /// big-endian) is of this content.
    pub(crate) fn has_head(&self, len: u64, hash: u64) -> bool {
        use md5::{Digest, Md5};
        let bytes = self.bytes();
        let Some(head) = bytes.get(..usize::try_from(len).unwrap()) else {
            return false;
        };
        let digest = Md5::digest(head);
        u64::from_be_bytes(digest[..8].try_into().unwrap()) == hash
    }

    /// Lines entirely before `offset`.
    pub(crate) fn lines_before(&self, offset: u64) -> usize {
        let mut end = 0u64;
        self.lines
            .iter()
            .take_while(|l| {
                end += l.len() as u64 + 1;
                end <= offset
            })
            .count()
    }
}

/// A log file written by the test, rotated in the three ways, truncated and refilled.
pub(crate) struct LogFile {
    pub(crate) path: PathBuf,
    file: File,
    name: String,
    generation: u32,
    next: usize,
}

impl LogFile {
    pub(crate) fn create(
        dir: &Path,
        name: &str,
        contents: &mut HashMap<String, Content>,
    ) -> LogFile {
        let path = dir.join(name);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let log = LogFile {
            path,
            file,
            name: name.to_owned(),
            generation: 0,
            next: 0,
        };
        contents.entry(log.tag()).or_default().ino = log.file.metadata().unwrap().ino();
        log
    }

    pub(crate) fn tag(&self) -> String {
        format!("{}-g{}", self.name, self.generation)
    }

    /// `n` lines (in one write), recorded in `contents`.
    pub(crate) fn write(&mut self, n: usize, contents: &mut HashMap<String, Content>) {
        let tag = self.tag();
        let content = contents.entry(tag.clone()).or_default();
        let mut bytes = String::new();
        for _ in 0..n {
            let line = format!("{tag}-{:06} {}", self.next, "x".repeat(self.next % 40));
            bytes.push_str(&line);
            bytes.push('\n');
            content.lines.push(line);
            self.next += 1;
        }
        self.file.write_all(bytes.as_bytes()).unwrap();
    }

    fn next_generation(&mut self, contents: &mut HashMap<String, Content>) {
        self.generation += 1;
        self.next = 0;
        contents.entry(self.tag()).or_default().ino = self.file.metadata().unwrap().ino();
    }

    /// logrotate `create`: rename to `rotated`, `late` more lines into the renamed file,
    /// then a new file at the path.
    pub(crate) fn rotate_rename(
        &mut self,
        rotated: &str,
        late: usize,
        contents: &mut HashMap<String, Content>,
    ) {
        std::fs::rename(&self.path, self.path.with_file_name(rotated)).unwrap();
        self.write(late, contents);
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .unwrap();
        self.next_generation(contents);
    }

    /// logrotate `copytruncate`: copy to `copy`, truncate in place, go on writing.
    pub(crate) fn rotate_copytruncate(
        &mut self,
        copy: &str,
        contents: &mut HashMap<String, Content>,
    ) {
        std::fs::copy(&self.path, self.path.with_file_name(copy)).unwrap();
        self.file.set_len(0).unwrap();
        self.next_generation(contents);
    }

    /// Truncated and refilled at once with `n` lines (more bytes than before).
    pub(crate) fn truncate_and_refill(
        &mut self,
        n: usize,
        contents: &mut HashMap<String, Content>,
    ) {
        self.file.set_len(0).unwrap();
        self.next_generation(contents);
        self.write(n, contents);
    }
}
