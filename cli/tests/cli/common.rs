//! Runs the built `kinesis` binary as a user would: a clean environment holding only the
//! endpoints of the embedded servers, dummy credentials and a region; stdin, stdout,
//! stderr and the exit status as a shell sees them. Every run has a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::LocalAws;

/// The embedded servers, clients for the test's own checks, and a home directory.
pub(crate) struct Env {
    pub(crate) aws: LocalAws,
    pub(crate) kinesis: aws_sdk_kinesis::Client,
    pub(crate) dynamodb: aws_sdk_dynamodb::Client,
    pub(crate) dir: tempfile::TempDir,
}

impl Env {
    pub(crate) async fn start() -> Env {
        let aws = LocalAws::start().await.unwrap();
        Env {
            kinesis: aws.kinesis_client(),
            dynamodb: aws.dynamodb_client(),
            aws,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// An Env with a stream of `shards` shards, ACTIVE.
    pub(crate) async fn with_stream(name: &str, shards: i32) -> Env {
        let env = Env::start().await;
        testkit::streams::create_stream(&env.kinesis, name, shards)
            .await
            .unwrap();
        env
    }

    /// `kinesis ARGS` pointed at the embedded servers.
    pub(crate) fn kinesis(&self, args: &[&str]) -> Run {
        let mut run = Run::bare(args, self.dir.path());
        run.env("AWS_ENDPOINT_URL_KINESIS", &self.aws.kinesis_endpoint())
            .env("AWS_ENDPOINT_URL_DYNAMODB", &self.aws.dynamodb_endpoint());
        run
    }

    /// A path in the test's directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// One invocation being set up.
pub(crate) struct Run {
    cmd: Command,
    stdin: Vec<u8>,
    keep_stdin: bool,
}

impl Run {
    /// `kinesis ARGS` with region and dummy credentials, nothing else from this process:
    /// no profile files, no instance metadata (nothing may reach the network).
    pub(crate) fn bare(args: &[&str], home: &Path) -> Run {
        // Empty profile files: present (a missing named file draws a warning), holding nothing.
        let (config, credentials) = (home.join("aws-config"), home.join("aws-credentials"));
        for file in [&config, &credentials] {
            if !file.exists() {
                std::fs::write(file, "").unwrap();
            }
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kinesis"));
        cmd.args(args)
            .env_clear()
            .env("HOME", home)
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", testkit::REGION)
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret");
        Run {
            cmd,
            stdin: Vec::new(),
            keep_stdin: false,
        }
    }

    pub(crate) fn env(&mut self, key: &str, value: &str) -> &mut Run {
        self.cmd.env(key, value);
        self
    }

    pub(crate) fn env_remove(&mut self, key: &str) -> &mut Run {
        self.cmd.env_remove(key);
        self
    }

    pub(crate) fn stdin(&mut self, input: impl Into<Vec<u8>>) -> &mut Run {
        self.stdin = input.into();
        self
    }

    /// Runs to the end (at most `deadline`, else the test fails).
    pub(crate) fn run_within(&mut self, deadline: Duration) -> Output {
        let mut running = self.spawn();
        running.wait(deadline)
    }

    /// Runs to the end within 60 s.
    pub(crate) fn run(&mut self) -> Output {
        self.run_within(Duration::from_secs(60))
    }

    /// Starts it with stdin left open: the test writes to it, and closes it by dropping it.
    pub(crate) fn spawn_with_stdin(&mut self) -> (Running, std::process::ChildStdin) {
        self.keep_stdin = true;
        let mut running = self.spawn();
        let stdin = running.child.stdin.take().unwrap();
        (running, stdin)
    }

    /// Starts it; stdout is read line by line as it comes.
    pub(crate) fn spawn(&mut self) -> Running {
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if !self.keep_stdin {
            let mut stdin = child.stdin.take().unwrap();
            let input = std::mem::take(&mut self.stdin);
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    return;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Running {
            child,
            lines,
            taken: Vec::new(),
            stderr,
        }
    }
}

/// A running invocation.
pub(crate) struct Running {
    child: Child,
    lines: mpsc::Receiver<Vec<u8>>,
    taken: Vec<Vec<u8>>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    /// Waits until stdout has shown `n` lines in all (fails after `deadline`).
    pub(crate) fn wait_lines(&mut self, n: usize, deadline: Duration) -> &[Vec<u8>] {
        let until = Instant::now() + deadline;
        while self.taken.len() < n {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.taken.push(line),
                Err(_) => panic!(
                    "{} of {n} lines after {deadline:?}; stderr:\n{}",
                    self.taken.len(),
                    self.stderr()
                ),
            }
        }
        &self.taken
    }

    /// Waits until stderr contains `text`.
    pub(crate) fn wait_stderr(&self, text: &str, deadline: Duration) {
        let until = Instant::now() + deadline;
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < until,
                "no {text:?} on stderr after {deadline:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM (or SIGINT with `"INT"`).
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit (killing it and failing the test after `deadline`).
    pub(crate) fn wait(&mut self, deadline: Duration) -> Output {
        let until = Instant::now() + deadline;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "still running after {deadline:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The readers end at EOF, right after the exit.
        let mut stdout = std::mem::take(&mut self.taken);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            stdout.push(line);
        }
        std::thread::sleep(Duration::from_millis(20));
        Output {
            status,
            stdout,
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a finished invocation left.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    /// stdout's lines, without their newlines.
    pub(crate) stdout: Vec<Vec<u8>>,
    pub(crate) stderr: String,
}

impl Output {
    /// stdout's lines as text.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.stdout
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    /// stdout's lines as JSON values.
    pub(crate) fn json(&self) -> Vec<serde_json::Value> {
        self.stdout
            .iter()
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    /// Asserts exit status 0.
    pub(crate) fn success(&self) -> &Output {
        assert!(
            self.status.success(),
            "exit {:?}; stderr:\n{}",
            self.status.code(),
            self.stderr
        );
        self
    }

    /// Asserts a one-line error with exit status 1 containing every `part`, and no panic.
    pub(crate) fn fails_with(&self, parts: &[&str]) -> &Output {
        assert_eq!(self.status.code(), Some(1), "stderr:\n{}", self.stderr);
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("kinesis: error: "))
            .collect();
        assert_eq!(errors.len(), 1, "one error line expected:\n{}", self.stderr);
        for part in parts {
            assert!(errors[0].contains(part), "{part:?} not in {:?}", errors[0]);
        }
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        assert!(!self.stderr.contains("RUST_BACKTRACE"), "{}", self.stderr);
        self
    }
}

/// User records of a Kinesis record, de-aggregated: (partition key, explicit hash key, data).
pub(crate) fn user_records(
    r: &aws_sdk_kinesis::types::Record,
) -> Vec<(String, Option<String>, Vec<u8>)> {
    use kinesis_agg::{Deaggregated, Deaggregator};
    let data = bytes::Bytes::copy_from_slice(r.data.as_ref());
    match Deaggregator::new().deaggregate(data) {
        Deaggregated::NotAggregated(d) => {
            vec![(
                r.partition_key().unwrap_or_default().to_owned(),
                None,
                d.to_vec(),
            )]
        }
        Deaggregated::Aggregated(a) | Deaggregated::Dropped(a) => a
            .records()
            .map(|s| {
                (
                    s.partition_key.to_string(),
                    s.explicit_hash_key.map(|k| k.to_string()),
                    s.data.to_vec(),
                )
            })
            .collect(),
    }
}

/// Every Kinesis record of every shard, by shard id.
pub(crate) async fn stream_records(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Vec<(String, Vec<aws_sdk_kinesis::types::Record>)> {
    let mut out = Vec::new();
    for shard in testkit::streams::list_shards(kinesis, stream)
        .await
        .unwrap()
    {
        let records = testkit::streams::read_shard(kinesis, stream, shard.shard_id())
            .await
            .unwrap();
        out.push((shard.shard_id().to_owned(), records));
    }
    out
}
