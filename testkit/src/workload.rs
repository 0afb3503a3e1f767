//! Benchmark workloads: the `AGGW` files written by `shared/bench/gen_workloads.py`, and
//! in-process generation of the same shapes.
//!
//! File format (little endian): `b"AGGW" | u32 count | count x (u16 pk_len | pk bytes |
//! u32 data_len | data bytes)`.

use std::path::Path;

use bytes::Bytes;

use crate::rng::Rng;

/// A list of user records (partition key, data); data are slices of one buffer.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Its name (`w1`, `w2`, `w3`, or what the caller chose).
    pub name: String,
    /// The user records in order.
    pub records: Vec<(String, Bytes)>,
}

impl Workload {
    /// Sum of the data lengths (partition keys not counted), as the Python bench counts.
    pub fn payload_bytes(&self) -> usize {
        self.records.iter().map(|(_, d)| d.len()).sum()
    }
}

/// A workload file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not in the AGGW format.
    #[error("{path} is not an AGGW workload file: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Reads an AGGW workload file.
pub fn load(path: &Path, name: &str) -> Result<Workload, WorkloadError> {
    let display = path.display().to_string();
    let buf = std::fs::read(path).map_err(|source| WorkloadError::Io {
        path: display.clone(),
        source,
    })?;
    parse(Bytes::from(buf), name).map_err(|reason| WorkloadError::Format {
        path: display,
        reason,
    })
}

fn parse(buf: Bytes, name: &str) -> Result<Workload, &'static str> {
    let mut r = Reader { buf, at: 0 };
    if r.take(4)? != b"AGGW"[..] {
        return Err("bad magic");
    }
    let count = r.u32()?;
    let mut records = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let pk_len = usize::from(r.u16()?);
        let pk =
            String::from_utf8(r.take(pk_len)?.to_vec()).map_err(|_| "partition key not UTF-8")?;
        let data_len = r.u32()? as usize;
        records.push((pk, r.take(data_len)?));
    }
    if r.at != r.buf.len() {
        return Err("trailing bytes");
    }
    Ok(Workload {
        name: name.to_owned(),
        records,
    })
}

/// Reads little-endian fields and zero-copy slices off a buffer.
struct Reader {
    buf: Bytes,
    at: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Result<Bytes, &'static str> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or("truncated")?;
        let out = self.buf.slice(self.at..end);
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let b = self.take(N)?;
        b[..].try_into().map_err(|_| "truncated")
    }

    fn u16(&mut self) -> Result<u16, &'static str> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}

/// The three workload shapes of the benchmark.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// 100-byte payloads, random 16-character keys, all distinct (1,000,000 records in the file).
    W1,
    /// 1 KiB payloads over 100 distinct keys (200,000 records in the file).
    W2,
    /// 50 KiB payloads, random 16-character keys, all distinct (10,000 records in the file).
    W3,
}

impl Shape {
    /// Record count of the file made by `gen_workloads.py`.
    pub fn file_count(self) -> usize {
        match self {
            Shape::W1 => 1_000_000,
            Shape::W2 => 200_000,
            Shape::W3 => 10_000,
        }
    }

    /// Payload bytes per record.
    pub fn payload_len(self) -> usize {
        match self {
            Shape::W1 => 100,
            Shape::W2 => 1024,
            Shape::W3 => 50 * 1024,
        }
    }
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Generates `count` records of `shape` from `seed` (same shapes as the files, not the
/// same bytes; keys are made distinct by a numeric suffix where the shape needs it).
///
/// ```
/// let w = testkit::workload::generate(testkit::workload::Shape::W2, 1000, 7);
/// assert_eq!(w.records.len(), 1000);
/// assert!(w.records.iter().all(|(_, d)| d.len() == 1024));
/// ```
pub fn generate(shape: Shape, count: usize, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let len = shape.payload_len();
    let mut data = vec![0u8; len * count];
    for chunk in data.chunks_mut(8) {
        let v = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(v.get(..chunk.len()).unwrap_or_default());
    }
    let data = Bytes::from(data);
    let shared: Vec<String> = (0..100).map(|_| random_key(&mut rng, 16)).collect();
    let records = (0..count)
        .map(|i| {
            let pk = match shape {
                Shape::W2 => shared
                    .get(rng.below(shared.len()))
                    .cloned()
                    .unwrap_or_default(),
                Shape::W1 | Shape::W3 => format!("{}{i:07}", random_key(&mut rng, 9)),
            };
            (pk, data.slice(i * len..(i + 1) * len))
        })
        .collect();
    Workload {
        name: format!("{shape:?}").to_lowercase(),
        records,
    }
}

fn random_key(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| {
            ALPHABET
                .get(rng.below(ALPHABET.len()))
                .map_or('A', |&b| char::from(b))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_file_format() {
        let mut f = b"AGGW".to_vec();
        f.extend(2u32.to_le_bytes());
        for (pk, data) in [("ab", &b"xyz"[..]), ("c", &b""[..])] {
            f.extend((pk.len() as u16).to_le_bytes());
            f.extend(pk.as_bytes());
            f.extend((data.len() as u32).to_le_bytes());
            f.extend(data);
        }
        let w = parse(Bytes::from(f.clone()), "t").unwrap();
        assert_eq!(
            w.records,
            vec![
                ("ab".into(), Bytes::from_static(b"xyz")),
                ("c".into(), Bytes::new())
            ]
        );
        assert_eq!(
            parse(Bytes::from(f[..f.len() - 1].to_vec()), "t").unwrap_err(),
            "truncated"
        );
        f.push(0);
        assert_eq!(parse(Bytes::from(f), "t").unwrap_err(), "trailing bytes");
    }

    #[test]
    fn generated_keys_are_distinct_for_w1() {
        let w = generate(Shape::W1, 5000, 1);
        let keys: std::collections::HashSet<_> = w.records.iter().map(|(k, _)| k).collect();
        assert_eq!(keys.len(), 5000);
        assert!(
            w.records
                .iter()
                .all(|(k, d)| k.len() == 16 && d.len() == 100)
        );
    }
}
