//! Files, stdin and stdout, and outputs that appear only when complete.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// True if `path` is `-`.
pub fn is_std(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Describes an I/O error with its path.
pub fn describe(path: &Path, e: &io::Error) -> String {
    if is_std(path) {
        format!("standard stream: {e}")
    } else {
        format!("{}: {e}", path.display())
    }
}

/// Opens an input: a file or stdin.
pub fn open_input(path: &Path) -> Result<Box<dyn Read>, String> {
    if is_std(path) {
        Ok(Box::new(io::stdin().lock()))
    } else {
        File::open(path)
            .map(|f| Box::new(f) as Box<dyn Read>)
            .map_err(|e| describe(path, &e))
    }
}

/// Reads a whole (small) file or stdin into a buffer that is wiped on drop.
pub fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut buf = Zeroizing::new(Vec::new());
    open_input(path)?
        .read_to_end(&mut buf)
        .map_err(|e| describe(path, &e))?;
    Ok(buf)
}

/// The first line of a password file, without its line ending.
pub fn read_password(path: &Path) -> Result<medseal_core::container::Password, String> {
    let bytes = read_secret(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| format!("{}: the password is not UTF-8", path.display()))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(format!("{}: the password file is empty", path.display()));
    }
    Ok(medseal_core::container::Password::new(line.to_owned()))
}

/// An output that becomes visible only on [`Output::commit`]: a temporary file beside the
/// target, renamed into place; dropped without commit, it is deleted. Stdout is written
/// directly (what was written cannot be taken back; the exit status says it failed).
pub enum Output {
    /// Stdout.
    Stdout(BufWriter<io::Stdout>),
    /// A temporary file and its final path.
    File(BufWriter<tempfile::NamedTempFile>, PathBuf),
}

impl Output {
    /// Starts an output at `path` (or stdout for `-`).
    pub fn create(path: &Path) -> Result<Self, String> {
        if is_std(path) {
            return Ok(Self::Stdout(BufWriter::with_capacity(
                1 << 20,
                io::stdout(),
            )));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".medseal-")
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(|e| describe(&dir, &e))?;
        Ok(Self::File(
            BufWriter::with_capacity(1 << 20, tmp),
            path.to_path_buf(),
        ))
    }

    /// Writes bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let (r, path) = match self {
            Self::Stdout(w) => (w.write_all(bytes), Path::new("-")),
            Self::File(w, p) => (w.write_all(bytes), p.as_path()),
        };
        r.map_err(|e| describe(path, &e))
    }

    /// The output as a `Write`, for writers that stream into it.
    pub fn writer(&mut self) -> &mut dyn Write {
        match self {
            Self::Stdout(w) => w,
            Self::File(w, _) => w,
        }
    }

    /// Flushes, syncs and moves the file into place.
    pub fn commit(self) -> Result<(), String> {
        match self {
            Self::Stdout(mut w) => w.flush().map_err(|e| describe(Path::new("-"), &e)),
            Self::File(w, path) => {
                let tmp = w.into_inner().map_err(|e| describe(&path, e.error()))?;
                tmp.as_file().sync_all().map_err(|e| describe(&path, &e))?;
                tmp.persist(&path).map_err(|e| describe(&path, &e.error))?;
                Ok(())
            }
        }
    }
}
