//! A JSON writer for the shapes PutRecords is made of (structures, lists, strings, blobs,
//! booleans), writing what the SDK's JSON codec writes, byte for byte, into any [`Out`]:
//! a [`Counter`] that only measures, or a `Vec<u8>` sized by a count beforehand.

use aws_smithy_schema::Schema;
use aws_smithy_schema::serde::{SerdeError, SerializableStruct, ShapeSerializer};
use aws_smithy_types::{BigDecimal, BigInteger, Blob, DateTime, Document};

/// Where the writer's bytes go.
pub(crate) trait Out {
    /// Appends `bytes`.
    fn bytes(&mut self, bytes: &[u8]);
    /// Appends `data` in standard, padded base64.
    fn base64(&mut self, data: &[u8]);
}

/// Counts the bytes it is given, keeping none.
#[derive(Debug, Default)]
pub(crate) struct Counter(usize);

impl Counter {
    /// The number of bytes counted.
    pub(crate) fn len(&self) -> usize {
        self.0
    }
}

impl Out for Counter {
    fn bytes(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }

    fn base64(&mut self, data: &[u8]) {
        self.0 += base64_simd::STANDARD.encoded_length(data.len());
    }
}

impl Out for Vec<u8> {
    fn bytes(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn base64(&mut self, data: &[u8]) {
        base64_simd::STANDARD.encode_append(data, self);
    }
}

/// Writes shapes as JSON into `out`; any shape it does not write is an
/// [`SerdeError::UnsupportedOperation`], for the caller to fall back on the SDK's codec.
pub(crate) struct JsonWriter<O> {
    out: O,
    /// A value was written in the current container, so the next one needs a comma.
    comma: bool,
    /// The current container is a structure, so values are preceded by their member name.
    in_struct: bool,
}

impl<O: Out> JsonWriter<O> {
    /// A writer into `out`.
    pub(crate) fn new(out: O) -> JsonWriter<O> {
        JsonWriter {
            out,
            comma: false,
            in_struct: true,
        }
    }

    /// What was written.
    pub(crate) fn into_inner(self) -> O {
        self.out
    }

    /// The separator and, inside a structure, the member's name ahead of a value.
    fn prefix(&mut self, schema: &Schema<'_>) {
        if self.comma {
            self.out.bytes(b",");
        }
        if let Some(name) = schema.member_name().filter(|_| self.in_struct) {
            self.string(name);
            self.out.bytes(b":");
        }
        self.comma = true;
    }

    /// `value` as a JSON string, escaped as the SDK escapes it.
    fn string(&mut self, value: &str) {
        self.out.bytes(b"\"");
        let bytes = value.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                0x08 => b"\\b",
                0x0C => b"\\f",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1F => &control(b),
                _ => continue,
            };
            self.out.bytes(bytes.get(start..i).unwrap_or_default());
            self.out.bytes(escape);
            start = i + 1;
        }
        self.out.bytes(bytes.get(start..).unwrap_or_default());
        self.out.bytes(b"\"");
    }

    /// Writes a container: `open`, what `body` writes with `in_struct` set, `close`.
    fn container(
        &mut self,
        schema: &Schema<'_>,
        (open, close): (&[u8], &[u8]),
        in_struct: bool,
        body: impl FnOnce(&mut Self) -> Result<(), SerdeError>,
    ) -> Result<(), SerdeError> {
        self.prefix(schema);
        self.out.bytes(open);
        let saved = (self.comma, self.in_struct);
        (self.comma, self.in_struct) = (false, in_struct);
        body(self)?;
        self.out.bytes(close);
        (self.comma, self.in_struct) = saved;
        Ok(())
    }
}

/// `\u00XX` for a control character, lower-case hex as the SDK writes it.
fn control(b: u8) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hex = |n: u8| HEX.get(usize::from(n & 0xf)).copied().unwrap_or(b'0');
    [b'\\', b'u', b'0', b'0', hex(b >> 4), hex(b)]
}

fn unsupported(what: &str) -> Result<(), SerdeError> {
    Err(SerdeError::unsupported(format!(
        "{what} is left to the SDK's codec"
    )))
}

/// The `ShapeSerializer` methods for types PutRecords has no member of.
macro_rules! left_to_the_sdk {
    ($($name:ident($ty:ty)),* $(,)?) => {
        $(fn $name(&mut self, _: &Schema<'_>, _: $ty) -> Result<(), SerdeError> {
            unsupported(stringify!($ty))
        })*
    };
}

impl<O: Out> ShapeSerializer for JsonWriter<O> {
    fn write_struct(
        &mut self,
        schema: &Schema<'_>,
        value: &dyn SerializableStruct,
    ) -> Result<(), SerdeError> {
        self.container(schema, (b"{", b"}"), true, |w| value.serialize_members(w))
    }

    fn write_list(
        &mut self,
        schema: &Schema<'_>,
        write_elements: &dyn Fn(&mut dyn ShapeSerializer) -> Result<(), SerdeError>,
    ) -> Result<(), SerdeError> {
        self.container(schema, (b"[", b"]"), false, |w| write_elements(w))
    }

    fn write_map(
        &mut self,
        _: &Schema<'_>,
        _: &dyn Fn(&mut dyn ShapeSerializer) -> Result<(), SerdeError>,
    ) -> Result<(), SerdeError> {
        unsupported("a map")
    }

    fn write_boolean(&mut self, schema: &Schema<'_>, value: bool) -> Result<(), SerdeError> {
        self.prefix(schema);
        self.out.bytes(if value { b"true" } else { b"false" });
        Ok(())
    }

    fn write_string(&mut self, schema: &Schema<'_>, value: &str) -> Result<(), SerdeError> {
        self.prefix(schema);
        self.string(value);
        Ok(())
    }

    fn write_blob(&mut self, schema: &Schema<'_>, value: Blob) -> Result<(), SerdeError> {
        self.prefix(schema);
        self.out.bytes(b"\"");
        self.out.base64(value.as_ref());
        self.out.bytes(b"\"");
        Ok(())
    }

    fn write_null(&mut self, _: &Schema<'_>) -> Result<(), SerdeError> {
        unsupported("a null")
    }

    left_to_the_sdk!(
        write_byte(i8),
        write_short(i16),
        write_integer(i32),
        write_long(i64),
        write_float(f32),
        write_double(f64),
        write_big_integer(&BigInteger),
        write_big_decimal(&BigDecimal),
        write_timestamp(&DateTime),
        write_document(&Document),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a broken expectation panics
mod tests {
    use super::*;

    fn escaped(s: &str) -> (String, usize) {
        let mut w = JsonWriter::new(Vec::new());
        w.string(s);
        let mut c = JsonWriter::new(Counter::default());
        c.string(s);
        (
            String::from_utf8(w.into_inner()).unwrap(),
            c.into_inner().len(),
        )
    }

    #[test]
    fn strings_are_escaped_as_json_and_counted_as_written() {
        for (input, expected) in [
            ("plain", r#""plain""#),
            ("", r#""""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\n\r\t\u{8}\u{c}", r#""\n\r\t\b\f""#),
            ("\u{1}x\u{1f}", r#""\u0001x\u001f""#),
            ("ünï/\u{7f}", "\"ünï/\u{7f}\""),
        ] {
            let (written, counted) = escaped(input);
            assert_eq!(written, expected, "{input:?}");
            assert_eq!(counted, written.len(), "{input:?}");
        }
    }

    #[test]
    fn base64_is_padded_and_counted_as_written() {
        for data in [&b""[..], b"a", b"ab", b"abc", b"abcd"] {
            let mut out = Vec::new();
            out.base64(data);
            let mut count = Counter::default();
            count.base64(data);
            assert_eq!(out, base64_simd::STANDARD.encode_to_string(data).as_bytes());
            assert_eq!(count.len(), out.len());
        }
    }
}
