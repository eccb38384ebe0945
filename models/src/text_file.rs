//! Reading the text files a scenario refers to (the scenario and sweep
//! files themselves, empirical delay files), with one rule for all: a
//! regular file of bounded size. A device, a pipe or a wrong multi-gigabyte
//! file gets an error instead of exhausting memory or blocking for ever.

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
    let mut text = std::fs::read_to_string(path)?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

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
    fn a_leading_byte_order_mark_is_dropped() {
        let p = std::env::temp_dir().join(format!("vtsim-bom-{}.txt", std::process::id()));
        std::fs::write(&p, "\u{feff}a\u{feff}b\n").unwrap();
        let text = read_text(&p);
        std::fs::remove_file(&p).unwrap();
        assert_eq!(text.unwrap(), "a\u{feff}b\n", "only the leading mark");
    }
}
