//! A real Java KCL 3.1.3 worker (the MultiLangDaemon of the `kclpy-ext` wheel) as a child
//! process: its properties written from `worker.properties`, its log in a file, its
//! record processor `processor.py` logging every call. The process group is killed when the
//! worker is dropped, also when a test fails; a failing test prints the end of its log.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::events::{self, Event};

const PROPERTIES: &str = include_str!("worker.properties");
const LOGBACK: &str = include_str!("logback.xml");
const PROCESSOR: &str = include_str!("processor.py");

/// The environment variable naming the Python of a venv with `kclpy-ext==3.1.3.post4`.
pub const PYTHON_ENV: &str = "KCL_JAVA_PYTHON";

/// Which lease assignment the Java workers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `CLIENT_VERSION_CONFIG_COMPATIBLE_WITH_2X`: every worker takes and steals itself.
    Compatible2x,
    /// `CLIENT_VERSION_CONFIG_3X`: a leader assigns leases to workers with fresh
    /// WorkerMetricStats rows.
    Version3x,
}

impl Mode {
    fn property(self) -> &'static str {
        match self {
            Mode::Compatible2x => "CLIENT_VERSION_CONFIG_COMPATIBLE_WITH_2X",
            Mode::Version3x => "CLIENT_VERSION_CONFIG_3X",
        }
    }
}

/// What the record processor checkpoints (re-read by it before every call).
#[derive(Clone, Debug, Default)]
pub struct Control {
    /// At the last record of each batch.
    pub every_batch: bool,
    /// At each record with one of these data values.
    pub at: Vec<String>,
    /// Everything delivered, in `shutdown_requested`.
    pub on_shutdown: bool,
}

impl Control {
    fn json(&self) -> String {
        serde_json::json!({
            "checkpoint_every_batch": self.every_batch,
            "checkpoint_at": self.at,
            "checkpoint_on_shutdown": self.on_shutdown,
        })
        .to_string()
    }
}

/// One Java worker's settings.
#[derive(Clone, Debug)]
pub struct JavaConfig {
    pub app: String,
    pub stream: String,
    pub worker: String,
    pub kinesis: String,
    pub dynamodb: String,
    pub mode: Mode,
    pub failover: Duration,
    /// More `key = value` properties.
    pub extra: Vec<(String, String)>,
}

/// A running Java worker. Dropping it kills its process group.
pub struct JavaWorker {
    pub name: String,
    dir: PathBuf,
    child: Child,
    pub started: Instant,
    started_wall_us: u64,
    exited: Option<ExitStatus>,
}

impl JavaWorker {
    /// Writes the worker's files under a fresh directory and starts the daemon.
    pub fn start(config: &JavaConfig, control: &Control) -> JavaWorker {
        super::netns::assert_loopback_only();
        let python = python();
        let dir = work_dir(&config.worker);
        fs::create_dir_all(dir.join("events")).unwrap();
        let processor = dir.join("processor.py");
        fs::write(&processor, PROCESSOR).unwrap();
        fs::write(dir.join("logback.xml"), LOGBACK).unwrap();
        fs::write(
            dir.join("worker.properties"),
            properties(config, &python, &processor),
        )
        .unwrap();
        let worker = JavaWorker {
            name: config.worker.clone(),
            child: spawn(&dir, &config.worker, &python),
            dir,
            started: Instant::now(),
            started_wall_us: events::wall_us(),
            exited: None,
        };
        worker.set_control(control);
        worker
    }

    /// Replaces what the processor checkpoints (atomically: it may be reading).
    pub fn set_control(&self, control: &Control) {
        let tmp = self.dir.join("control.json.tmp");
        fs::write(&tmp, control.json()).unwrap();
        fs::rename(&tmp, self.dir.join("control.json")).unwrap();
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("java.log")).unwrap_or_default()
    }

    /// Every call its record processors logged so far, in order of wall-clock time.
    pub fn events(&self) -> Vec<Event> {
        events::read_java_events(&self.dir.join("events"))
    }

    /// How long after the start its first record was delivered.
    pub fn first_record_after(&self) -> Option<Duration> {
        let first = self.events().into_iter().find(|e| e.record().is_some())?;
        Some(Duration::from_micros(
            first.wall_us.saturating_sub(self.started_wall_us),
        ))
    }

    /// Waits until `f` holds over its processors' events, up to `limit`.
    pub async fn wait_events(&mut self, what: &str, limit: Duration, f: impl Fn(&[Event]) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if f(&self.events()) {
                return;
            }
            self.assert_running(what);
            assert!(
                Instant::now() < deadline,
                "{}: timed out after {limit:?} waiting for {what}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the log holds `pattern`, up to `limit`.
    pub async fn wait_log(&mut self, pattern: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.log().contains(pattern) {
            self.assert_running(pattern);
            assert!(
                Instant::now() < deadline,
                "{}: no {pattern:?} in its log after {limit:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn assert_running(&mut self, waiting_for: &str) {
        if let Some(status) = self.child.try_wait().unwrap() {
            self.exited = Some(status);
            panic!(
                "{} exited ({status}) while waiting for {waiting_for}",
                self.name
            );
        }
    }

    /// SIGTERM (the daemon's graceful shutdown: `shutdown_requested`, then it waits out
    /// the failover time), then waits up to `limit` for the JVM to exit.
    pub async fn terminate(&mut self, limit: Duration) -> ExitStatus {
        signal("-TERM", &self.child.id().to_string());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.exited = Some(status);
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?} of SIGTERM",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for JavaWorker {
    fn drop(&mut self) {
        signal("-KILL", &format!("-{}", self.child.id()));
        let _ = self.child.wait();
        if std::thread::panicking() || std::env::var_os("KCL_JAVA_KEEP").is_some() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("---- {} log tail ({}) ----", self.name, self.dir.display());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn signal(signal: &str, target: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", target])
        .stderr(Stdio::null())
        .status();
}

/// The venv's Python, from [`PYTHON_ENV`].
fn python() -> PathBuf {
    let python = std::env::var_os(PYTHON_ENV).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{PYTHON_ENV} is not set: the Python of a venv with kclpy-ext==3.1.3.post4 (.ci/java-kcl makes one)")
    });
    assert!(
        python.exists(),
        "{PYTHON_ENV}={} does not exist",
        python.display()
    );
    python
}

/// The wheel's jars: `amazon_kclpy/jars` next to the venv's `amazon_kclpy`.
fn jars(python: &Path) -> PathBuf {
    let out = Command::new(python)
        .args([
            "-c",
            "import amazon_kclpy, os; print(os.path.dirname(amazon_kclpy.__file__))",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} has no amazon_kclpy (pip install kclpy-ext)",
        python.display()
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("jars")
}

fn work_dir(worker: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("java-kcl")
        .join(format!("{worker}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn properties(config: &JavaConfig, python: &Path, processor: &Path) -> String {
    for path in [python, processor] {
        // The daemon splits executableName on spaces.
        assert!(
            !path.to_string_lossy().contains(' '),
            "no spaces allowed in {}",
            path.display()
        );
    }
    let mut text = PROPERTIES
        .replace("{python}", &python.to_string_lossy())
        .replace("{processor}", &processor.to_string_lossy())
        .replace("{app}", &config.app)
        .replace("{stream}", &config.stream)
        .replace("{worker}", &config.worker)
        .replace("{kinesis}", &config.kinesis)
        .replace("{dynamodb}", &config.dynamodb)
        .replace("{client_version}", config.mode.property())
        .replace("{failover_ms}", &config.failover.as_millis().to_string());
    for (key, value) in &config.extra {
        text.push_str(&format!("{key} = {value}\n"));
    }
    text
}

fn spawn(dir: &Path, worker: &str, python: &Path) -> Child {
    let log = fs::File::create(dir.join("java.log")).unwrap();
    let classpath = format!("{}/*", jars(python).display());
    Command::new("java")
        .args(["-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .args(["-Daws.disableEc2Metadata=true", "-Daws.region=us-east-1"])
        .arg("-cp")
        .arg(classpath)
        .arg("software.amazon.kinesis.multilang.MultiLangDaemon")
        .arg("--properties-file")
        .arg(dir.join("worker.properties"))
        .arg("--log-configuration")
        .arg(dir.join("logback.xml"))
        .current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // No CloudWatch or STS endpoint properties exist: a closed loopback port.
        .env("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
        .env("KCLJ_WORKER", worker)
        .env("KCLJ_LOG_DIR", dir.join("events"))
        .env("KCLJ_CONTROL", dir.join("control.json"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("java (17) on PATH")
}
