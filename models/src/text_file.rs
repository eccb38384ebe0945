//! Reading the text files a scenario refers to (the scenario and sweep
//! files themselves, empirical delay files), with one rule for all: a
//! regular file of bounded size. A device, a pipe or a wrong multi-gigabyte
//! file gets an error instead of exhausting memory or blocking for ever.

use std::fmt;
use std::path::Path;

/// Largest text file vtsim reads, bytes (a hand-written scenario is a few
/// kB; an empirical delay file of a million samples about 10 MB).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a regular text file of at most [`MAX_FILE_BYTES`], without the
/// byte-order mark some Windows editors put at the start of UTF-8 text.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} bytes is larger than the {MAX_FILE_BYTES}-byte limit",
                meta.len()
            ),
        ));
    }
    let mut text = String::from_utf8(std::fs::read(path)?).map_err(|e| {
        let bad = NotUtf8::in_bytes(e.as_bytes(), e.utf8_error().valid_up_to());
        std::io::Error::new(std::io::ErrorKind::InvalidData, bad)
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// Where a file stops being UTF-8 text, the cause [`read_text`] gives for
/// such a file: an editor that saved another encoding needs to be told
/// where to look.
#[derive(Debug, PartialEq, Eq)]
pub struct NotUtf8 {
    /// 1-based line of the first byte that is not UTF-8.
    pub line: usize,
    /// Its 1-based column, in characters as RON counts them (a leading
    /// byte-order mark is not one).
    pub column: usize,
    /// The byte.
    pub byte: u8,
}

impl NotUtf8 {
    /// The first bad byte of `bytes`, which are UTF-8 up to `valid_up_to`.
    fn in_bytes(bytes: &[u8], valid_up_to: usize) -> NotUtf8 {
        let good = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or_default();
        let line_start = good.rfind('\n').map_or(0, |i| i + 1);
        let line = 1 + good.matches('\n').count();
        let bom = line == 1 && good.starts_with('\u{feff}');
        NotUtf8 {
            line,
            column: 1 + good[line_start..].chars().count() - usize::from(bom),
            byte: bytes.get(valid_up_to).copied().unwrap_or_default(),
        }
    }
}

impl fmt::Display for NotUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid UTF-8 (byte 0x{:02X}); save the file as UTF-8 text",
            self.byte
        )
    }
}

impl std::error::Error for NotUtf8 {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused() {
        for p in ["/dev/zero", "/dev/null", "."] {
            let e = read_text(Path::new(p)).unwrap_err();
            assert_eq!(e.to_string(), "not a regular file", "{p}");
        }
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_at_its_first_bad_byte() {
        let p = std::env::temp_dir().join(format!("vtsim-latin1-{}.txt", std::process::id()));
        for (bytes, line, column, byte) in [
            (&b"12\n3\xe9\n"[..], 2, 2, 0xe9),
            (b"\xff", 1, 1, 0xff),
            ("\u{feff}é".as_bytes(), 1, 2, 0),
            (b"\xef\xbb\xbf\xc3(", 1, 1, 0xc3),
        ] {
            std::fs::write(&p, bytes).unwrap();
            let e = read_text(&p);
            if byte == 0 {
                assert_eq!(e.unwrap(), "é");
                continue;
            }
            let e = e.unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            let bad = e.get_ref().and_then(|e| e.downcast_ref::<NotUtf8>());
            assert_eq!(bad, Some(&NotUtf8 { line, column, byte }), "{bytes:?}");
        }
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_leading_byte_order_mark_is_dropped() {
        let p = std::env::temp_dir().join(format!("vtsim-bom-{}.txt", std::process::id()));
        std::fs::write(&p, "\u{feff}a\u{feff}b\n").unwrap();
        let text = read_text(&p);
        std::fs::remove_file(&p).unwrap();
        assert_eq!(text.unwrap(), "a\u{feff}b\n", "only the leading mark");
    }
}
