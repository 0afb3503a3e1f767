//! What `produce` reads: stdin or files, as lines, JSON objects, or one record per file.
//! A thread of its own reads (stdin blocks) and hands items to the async side through
//! a bounded channel, so reading never runs ahead of the producer by more than that.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::json;
use crate::error::CliError;

/// How input is cut into records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One record per line (without its `\n` or `\r\n`).
    Lines,
    /// One record per JSON object.
    Json,
    /// One record per file.
    WholeFile,
}

/// Where an item came from, for messages: `stdin line 12`, `orders.jsonl object 3`.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    source: Arc<str>,
    unit: &'static str,
    index: u64,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.unit {
            "" => write!(f, "{}", self.source),
            unit => write!(f, "{} {unit} {}", self.source, self.index),
        }
    }
}

/// One record to be: its data, and its key when it comes from a JSON field.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) data: Bytes,
    /// With `--key-field`: the key, or why the item has none.
    pub(crate) field_key: Option<Result<String, String>>,
    /// Why the item cannot be a record at all (a JSON value that is not an object).
    pub(crate) invalid: Option<String>,
    pub(crate) origin: Origin,
}

/// What to read.
#[derive(Clone, Debug)]
pub(crate) struct Input {
    /// Files in order; empty or `-` for stdin.
    pub(crate) files: Vec<PathBuf>,
    pub(crate) mode: Mode,
    pub(crate) key_field: Option<String>,
}

/// Starts the reading thread. An error (a file that cannot be opened, invalid JSON)
/// is the last item.
pub(crate) fn spawn(input: Input) -> mpsc::Receiver<Result<Item, CliError>> {
    let (tx, rx) = mpsc::channel(4096);
    // A plain thread, not the runtime's blocking pool: a read of stdin cannot be
    // interrupted, and the process must be free to exit while one is pending.
    let spawned = std::thread::Builder::new()
        .name("kinesis-input".into())
        .spawn({
            let tx = tx.clone();
            move || {
                if let Err(e) = read_all(&input, &tx) {
                    let _ = tx.blocking_send(Err(e));
                }
            }
        });
    if let Err(e) = spawned {
        let _ = tx.try_send(Err(CliError::io("starting the input thread")(e)));
    }
    rx
}

type Tx = mpsc::Sender<Result<Item, CliError>>;

/// Reads every source; `Ok` also when the receiver went away (nothing more is wanted).
fn read_all(input: &Input, tx: &Tx) -> Result<(), CliError> {
    let stdin = [PathBuf::from("-")];
    let files = if input.files.is_empty() {
        &stdin[..]
    } else {
        &input.files[..]
    };
    for path in files {
        let (name, reader): (Arc<str>, Box<dyn Read>) = if path.as_os_str() == "-" {
            (Arc::from("stdin"), Box::new(std::io::stdin()))
        } else {
            let name = path.display().to_string();
            let file = File::open(path).map_err(CliError::io(format!("opening {name}")))?;
            (Arc::from(name.as_str()), Box::new(file))
        };
        let reader = BufReader::with_capacity(256 * 1024, reader);
        let go_on = match input.mode {
            Mode::Lines => lines(reader, &name, input, tx)?,
            Mode::Json => objects(reader, &name, input, tx)?,
            Mode::WholeFile => whole(reader, &name, input, tx)?,
        };
        if !go_on {
            break;
        }
    }
    Ok(())
}

/// Sends `item`; `false` when the receiver went away.
fn send(tx: &Tx, item: Item) -> bool {
    tx.blocking_send(Ok(item)).is_ok()
}

fn lines(
    mut reader: impl BufRead,
    name: &Arc<str>,
    input: &Input,
    tx: &Tx,
) -> Result<bool, CliError> {
    let mut index = 0;
    loop {
        let mut line = Vec::new();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(CliError::io(format!("reading {name}")))?;
        if n == 0 {
            return Ok(true);
        }
        index += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        let origin = Origin {
            source: name.clone(),
            unit: "line",
            index,
        };
        let field_key = input.key_field.as_ref().map(|f| key_of(&line, f));
        let item = Item {
            data: Bytes::from(line),
            field_key,
            invalid: None,
            origin,
        };
        if !send(tx, item) {
            return Ok(false);
        }
    }
}

fn objects(
    reader: impl BufRead,
    name: &Arc<str>,
    input: &Input,
    tx: &Tx,
) -> Result<bool, CliError> {
    for (i, value) in json::values(reader).enumerate() {
        let origin = Origin {
            source: name.clone(),
            unit: "object",
            index: i as u64 + 1,
        };
        let raw = value.map_err(|e| CliError::Usage(format!("{origin}: {e}")))?;
        let text = raw.get();
        let invalid = json::not_an_object(text);
        let field_key = match (&input.key_field, &invalid) {
            (Some(field), None) => Some(json::key_of(text, field)),
            _ => None,
        };
        let data = Bytes::copy_from_slice(text.as_bytes());
        if !send(
            tx,
            Item {
                data,
                field_key,
                invalid,
                origin,
            },
        ) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn whole(
    mut reader: impl BufRead,
    name: &Arc<str>,
    input: &Input,
    tx: &Tx,
) -> Result<bool, CliError> {
    let mut data = Vec::new();
    reader
        .read_to_end(&mut data)
        .map_err(CliError::io(format!("reading {name}")))?;
    let field_key = input.key_field.as_ref().map(|f| key_of(&data, f));
    let origin = Origin {
        source: name.clone(),
        unit: "",
        index: 1,
    };
    Ok(send(
        tx,
        Item {
            data: Bytes::from(data),
            field_key,
            invalid: None,
            origin,
        },
    ))
}

fn key_of(data: &[u8], field: &str) -> Result<String, String> {
    let text = std::str::from_utf8(data).map_err(|_| "not UTF-8, so not JSON".to_owned())?;
    json::key_of(text, field)
}
