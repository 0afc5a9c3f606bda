//! ZIP archives (PKWARE APPNOTE 6.3.x) for the research export, written as a stream.
//!
//! [`ZipStream`] writes entries one after the other into any `Write` and keeps only the central
//! directory (about 100 bytes an entry) in memory. An entry is either given whole
//! ([`ZipStream::add`]: CRC-32 and sizes in the local header, stored or deflated) or read from a
//! `Read` ([`ZipStream::add_reader`]: deflated as it is read, with a data descriptor after it,
//! APPNOTE 4.3.9). ZIP64 (APPNOTE 4.3.14, 4.5.3) is used where an entry, an offset, the central
//! directory or the entry count passes what the 32- and 16-bit fields hold, and everywhere when
//! forced ([`ZipStream::force_zip64`], for tests). Names are UTF-8 (flag bit 11); there are no
//! timestamps (1980-01-01). [`read_zip`] reads such archives back through the central directory.

use std::io::{self, Read, Write};

/// Why an archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    /// More than 65535 entries, or 4 GiB, in an archive written without ZIP64 ([`ZipWriter`],
    /// which the browser's in-memory export uses).
    #[error("the export is too large for a ZIP file without ZIP64 (4 GiB, 65535 files)")]
    TooLarge,
    /// Writing the archive, or reading an entry's content, failed.
    #[error("the export could not be written: {0}")]
    Io(#[from] io::Error),
}

impl PartialEq for ZipError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::TooLarge, Self::TooLarge) => true,
            (Self::Io(a), Self::Io(b)) => a.kind() == b.kind() && a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

impl Eq for ZipError {}

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// A running CRC-32 (ISO-HDLC), as ZIP uses.
#[derive(Clone, Copy, Debug)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Self(0xFFFF_FFFF)
    }
}

impl Crc32 {
    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for b in data {
            c = CRC_TABLE[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    /// The CRC of everything added.
    #[must_use]
    pub fn value(self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

/// CRC-32 (ISO-HDLC), as ZIP uses.
#[must_use]
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = Crc32::default();
    c.update(data);
    c.value()
}

/// How an entry's bytes are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// As they are (method 0).
    Stored,
    /// Raw DEFLATE (method 8), level 6.
    Deflated,
}

impl Method {
    fn code(self) -> u16 {
        match self {
            Self::Stored => 0,
            Self::Deflated => 8,
        }
    }
}

/// 1980-01-01 00:00 in MS-DOS form: the export carries no real timestamps.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;
/// Bit 11: the name is UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
/// Bit 3: CRC and sizes follow the data, in a data descriptor.
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const U32_MAX: u64 = 0xFFFF_FFFF;
/// An entry read from a `Read` whose length reaches this gets ZIP64 sizes: deflate may grow
/// incompressible data by a few bytes in 16 KiB, so the margin keeps the compressed size in
/// range too.
const ZIP64_STREAM_THRESHOLD: u64 = 0xFFFF_FFFF - (64 << 20);

struct Central {
    name: String,
    method: Method,
    flags: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
}

struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a ZIP archive as a stream (see the module's documentation).
pub struct ZipStream<W: Write> {
    out: Counting<W>,
    entries: Vec<Central>,
    force_zip64: bool,
    allow_zip64: bool,
}

/// A raw DEFLATE compressor over `miniz_oxide`'s streaming core, level 6.
struct Deflater {
    state: Box<miniz_oxide::deflate::core::CompressorOxide>,
    buf: Vec<u8>,
}

impl Deflater {
    fn new() -> Self {
        let flags = miniz_oxide::deflate::core::create_comp_flags_from_zip_params(6, -15, 0);
        Self {
            state: Box::new(miniz_oxide::deflate::core::CompressorOxide::new(flags)),
            buf: vec![0; 64 * 1024],
        }
    }

    /// Compresses `input` (all of it; with `last`, ends the stream), giving the output to `out`.
    fn feed(
        &mut self,
        mut input: &[u8],
        last: bool,
        out: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        use miniz_oxide::deflate::core::{TDEFLFlush, TDEFLStatus, compress};
        loop {
            let flush = if last {
                TDEFLFlush::Finish
            } else {
                TDEFLFlush::None
            };
            let (status, used, made) = compress(&mut self.state, input, &mut self.buf, flush);
            input = &input[used..];
            if made > 0 {
                out(&self.buf[..made])?;
            }
            match status {
                TDEFLStatus::Done => return Ok(()),
                TDEFLStatus::Okay if input.is_empty() && !last && made < self.buf.len() => {
                    return Ok(());
                }
                TDEFLStatus::Okay => {}
                _ => return Err(io::Error::other("deflate failed")),
            }
        }
    }
}

impl<W: Write> ZipStream<W> {
    /// An archive written into `out`, with ZIP64 where it is needed.
    pub fn new(out: W) -> Self {
        Self {
            out: Counting {
                inner: out,
                written: 0,
            },
            entries: Vec::new(),
            force_zip64: false,
            allow_zip64: true,
        }
    }

    /// Writes every entry and the end records in ZIP64 form, however small (to test readers).
    #[must_use]
    pub fn force_zip64(mut self) -> Self {
        self.force_zip64 = true;
        self
    }

    fn zip64_needed(&self, size: u64, offset: u64) -> Result<bool, ZipError> {
        let needed = self.force_zip64 || size >= U32_MAX || offset >= U32_MAX;
        if needed && !self.allow_zip64 {
            return Err(ZipError::TooLarge);
        }
        Ok(needed)
    }

    fn local_header(&mut self, e: &Central, zip64: bool) -> Result<(), ZipError> {
        let Central {
            ref name,
            method,
            flags,
            crc,
            compressed,
            size,
            ..
        } = *e;
        let name_len = u16::try_from(name.len()).map_err(|_| ZipError::TooLarge)?;
        let mut h = Vec::with_capacity(30 + name.len() + 20);
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&(if zip64 { 45u16 } else { 20u16 }).to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&method.code().to_le_bytes());
        h.extend_from_slice(&DOS_TIME.to_le_bytes());
        h.extend_from_slice(&DOS_DATE.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        // With a data descriptor the sizes follow the data and are 0 here (APPNOTE 4.4.4); a
        // ZIP64 entry says so with 0xFFFFFFFF and its extra field (zeros, then, as Info-ZIP).
        if zip64 {
            h.extend_from_slice(&[0xFF; 8]);
        } else {
            h.extend_from_slice(&(compressed as u32).to_le_bytes());
            h.extend_from_slice(&(size as u32).to_le_bytes());
        }
        h.extend_from_slice(&name_len.to_le_bytes());
        let extra: u16 = if zip64 { 20 } else { 0 };
        h.extend_from_slice(&extra.to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        if extra > 0 {
            h.extend_from_slice(&1u16.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&size.to_le_bytes());
            h.extend_from_slice(&compressed.to_le_bytes());
        }
        self.out.write_all(&h)?;
        Ok(())
    }

    /// Adds an entry whose bytes are all at hand.
    ///
    /// # Errors
    /// [`ZipError`].
    pub fn add(&mut self, name: &str, method: Method, data: &[u8]) -> Result<(), ZipError> {
        let offset = self.out.written;
        let crc = crc32(data);
        let deflated;
        let body: &[u8] = match method {
            Method::Stored => data,
            Method::Deflated => {
                deflated = miniz_oxide::deflate::compress_to_vec(data, 6);
                &deflated
            }
        };
        let size = data.len() as u64;
        let compressed = body.len() as u64;
        let zip64 = self.zip64_needed(size.max(compressed), offset)?;
        let entry = Central {
            name: name.to_owned(),
            method,
            flags: FLAG_UTF8,
            crc,
            compressed,
            size,
            offset,
        };
        self.local_header(&entry, zip64)?;
        self.out.write_all(body)?;
        self.push_entry(entry)
    }

    /// Adds an entry read from `data` to its end, deflated as it is read; `size_hint` is its
    /// length if known (it decides ZIP64 for the sizes; the data descriptor records the truth).
    ///
    /// # Errors
    /// [`ZipError`].
    pub fn add_reader(
        &mut self,
        name: &str,
        data: &mut dyn Read,
        size_hint: u64,
    ) -> Result<(), ZipError> {
        let offset = self.out.written;
        let zip64 = self.force_zip64 || size_hint >= ZIP64_STREAM_THRESHOLD || offset >= U32_MAX;
        if zip64 && !self.allow_zip64 {
            return Err(ZipError::TooLarge);
        }
        let flags = FLAG_UTF8 | FLAG_DESCRIPTOR;
        let header = Central {
            name: name.to_owned(),
            method: Method::Deflated,
            flags,
            crc: 0,
            compressed: 0,
            size: 0,
            offset,
        };
        self.local_header(&header, zip64)?;
        let mut crc = Crc32::default();
        let mut size = 0u64;
        let start = self.out.written;
        let mut deflater = Deflater::new();
        let mut buf = vec![0u8; 64 * 1024];
        let out = &mut self.out;
        let mut sink = |b: &[u8]| out.write_all(b);
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            crc.update(&buf[..n]);
            size += n as u64;
            deflater.feed(&buf[..n], false, &mut sink)?;
        }
        deflater.feed(&[], true, &mut sink)?;
        let compressed = self.out.written - start;
        if !zip64 && (size >= U32_MAX || compressed >= U32_MAX) {
            // The hint was wrong and the sizes no longer fit the 32-bit descriptor.
            return Err(ZipError::TooLarge);
        }
        let crc = crc.value();
        let mut d = Vec::with_capacity(24);
        d.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        d.extend_from_slice(&crc.to_le_bytes());
        if zip64 {
            d.extend_from_slice(&compressed.to_le_bytes());
            d.extend_from_slice(&size.to_le_bytes());
        } else {
            d.extend_from_slice(&(compressed as u32).to_le_bytes());
            d.extend_from_slice(&(size as u32).to_le_bytes());
        }
        self.out.write_all(&d)?;
        self.push_entry(Central {
            crc,
            compressed,
            size,
            ..header
        })
    }

    fn push_entry(&mut self, entry: Central) -> Result<(), ZipError> {
        // 0xFFFF entries is already the ZIP64 sentinel in the end record.
        if !self.allow_zip64 && (self.entries.len() + 1 >= 0xFFFF || self.out.written >= U32_MAX) {
            return Err(ZipError::TooLarge);
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Writes the central directory and the end records, and gives back the writer.
    ///
    /// # Errors
    /// [`ZipError`].
    pub fn finish(mut self) -> Result<W, ZipError> {
        let cd_start = self.out.written;
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            let zip64 = self.force_zip64
                || e.size >= U32_MAX
                || e.compressed >= U32_MAX
                || e.offset >= U32_MAX;
            let mut c = Vec::with_capacity(46 + e.name.len() + 28);
            c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            let version: u16 = if zip64 { 45 } else { 20 };
            c.extend_from_slice(&version.to_le_bytes()); // made by (MS-DOS, 2.0 or 4.5)
            c.extend_from_slice(&version.to_le_bytes()); // needed
            c.extend_from_slice(&e.flags.to_le_bytes());
            c.extend_from_slice(&e.method.code().to_le_bytes());
            c.extend_from_slice(&DOS_TIME.to_le_bytes());
            c.extend_from_slice(&DOS_DATE.to_le_bytes());
            c.extend_from_slice(&e.crc.to_le_bytes());
            let field = |v: u64| if zip64 { 0xFFFF_FFFFu32 } else { v as u32 };
            c.extend_from_slice(&field(e.compressed).to_le_bytes());
            c.extend_from_slice(&field(e.size).to_le_bytes());
            let name_len = u16::try_from(e.name.len()).map_err(|_| ZipError::TooLarge)?;
            c.extend_from_slice(&name_len.to_le_bytes());
            c.extend_from_slice(&(if zip64 { 28u16 } else { 0 }).to_le_bytes());
            c.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
            c.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            c.extend_from_slice(&field(e.offset).to_le_bytes());
            c.extend_from_slice(e.name.as_bytes());
            if zip64 {
                c.extend_from_slice(&1u16.to_le_bytes());
                c.extend_from_slice(&24u16.to_le_bytes());
                c.extend_from_slice(&e.size.to_le_bytes());
                c.extend_from_slice(&e.compressed.to_le_bytes());
                c.extend_from_slice(&e.offset.to_le_bytes());
            }
            self.out.write_all(&c)?;
        }
        let cd_size = self.out.written - cd_start;
        let count = entries.len() as u64;
        let zip64 =
            self.force_zip64 || count >= 0xFFFF || cd_start >= U32_MAX || cd_size >= U32_MAX;
        if zip64 && !self.allow_zip64 {
            return Err(ZipError::TooLarge);
        }
        let mut o = Vec::with_capacity(98);
        if zip64 {
            let record_at = self.out.written;
            o.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            o.extend_from_slice(&44u64.to_le_bytes()); // the record's size after this field
            o.extend_from_slice(&45u16.to_le_bytes());
            o.extend_from_slice(&45u16.to_le_bytes());
            o.extend_from_slice(&[0; 8]); // this disk, the central directory's disk
            o.extend_from_slice(&count.to_le_bytes());
            o.extend_from_slice(&count.to_le_bytes());
            o.extend_from_slice(&cd_size.to_le_bytes());
            o.extend_from_slice(&cd_start.to_le_bytes());
            o.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            o.extend_from_slice(&0u32.to_le_bytes());
            o.extend_from_slice(&record_at.to_le_bytes());
            o.extend_from_slice(&1u32.to_le_bytes());
        }
        let count16 = if zip64 { 0xFFFF } else { count as u16 };
        let field = |v: u64| if zip64 { 0xFFFF_FFFFu32 } else { v as u32 };
        o.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        o.extend_from_slice(&[0; 4]); // disk numbers
        o.extend_from_slice(&count16.to_le_bytes());
        o.extend_from_slice(&count16.to_le_bytes());
        o.extend_from_slice(&field(cd_size).to_le_bytes());
        o.extend_from_slice(&field(cd_start).to_le_bytes());
        o.extend_from_slice(&0u16.to_le_bytes());
        self.out.write_all(&o)?;
        self.out.flush()?;
        Ok(self.out.inner)
    }
}

/// Builds a ZIP archive of stored entries in memory, without ZIP64 (the browser's export: what
/// every unzip tool reads).
pub struct ZipWriter(ZipStream<Vec<u8>>);

impl Default for ZipWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ZipWriter {
    /// An empty archive.
    #[must_use]
    pub fn new() -> Self {
        let mut z = ZipStream::new(Vec::new());
        z.allow_zip64 = false;
        Self(z)
    }

    /// Adds a file.
    ///
    /// # Errors
    /// [`ZipError::TooLarge`].
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<(), ZipError> {
        self.0.add(name, Method::Stored, data)
    }

    /// The finished archive.
    ///
    /// # Errors
    /// [`ZipError::TooLarge`].
    pub fn finish(self) -> Result<Vec<u8>, ZipError> {
        self.0.finish()
    }
}

/// Reads every entry of an archive through its central directory: stored or deflated entries,
/// data descriptors, ZIP64. `None` if it is not such an archive or a CRC does not match. For
/// tests and for tools that check an export.
#[must_use]
pub fn read_zip(zip: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let u16_at = |i: usize| -> Option<u16> {
        Some(u16::from_le_bytes(
            zip.get(i..i.checked_add(2)?)?.try_into().ok()?,
        ))
    };
    let u32_at = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            zip.get(i..i.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let u64_at = |i: usize| -> Option<u64> {
        Some(u64::from_le_bytes(
            zip.get(i..i.checked_add(8)?)?.try_into().ok()?,
        ))
    };
    // The end record has no comment here, so it is the last 22 bytes.
    let end = zip.len().checked_sub(22)?;
    if u32_at(end)? != 0x0605_4b50 {
        return None;
    }
    let (mut count, mut cd_start) = (u64::from(u16_at(end + 10)?), u64::from(u32_at(end + 16)?));
    if count == 0xFFFF || cd_start == U32_MAX {
        let locator = end.checked_sub(20)?;
        if u32_at(locator)? != 0x0706_4b50 {
            return None;
        }
        let record = usize::try_from(u64_at(locator + 8)?).ok()?;
        if u32_at(record)? != 0x0606_4b50 {
            return None;
        }
        count = u64_at(record + 32)?;
        cd_start = u64_at(record + 48)?;
    }
    let mut at = usize::try_from(cd_start).ok()?;
    let mut out = Vec::new();
    for _ in 0..count {
        if u32_at(at)? != 0x0201_4b50 {
            return None;
        }
        let method = u16_at(at + 10)?;
        let crc = u32_at(at + 16)?;
        let mut compressed = u64::from(u32_at(at + 20)?);
        let mut size = u64::from(u32_at(at + 24)?);
        let name_len = usize::from(u16_at(at + 28)?);
        let extra_len = usize::from(u16_at(at + 30)?);
        let comment_len = usize::from(u16_at(at + 32)?);
        let mut offset = u64::from(u32_at(at + 42)?);
        let name = std::str::from_utf8(zip.get(at + 46..at + 46 + name_len)?)
            .ok()?
            .to_owned();
        let mut x = at + 46 + name_len;
        let extra_end = x + extra_len;
        while x + 4 <= extra_end {
            let (id, len) = (u16_at(x)?, usize::from(u16_at(x + 2)?));
            if id == 1 {
                let mut f = x + 4;
                for v in [&mut size, &mut compressed, &mut offset] {
                    if *v == U32_MAX {
                        *v = u64_at(f)?;
                        f += 8;
                    }
                }
            }
            x += 4 + len;
        }
        at = extra_end + comment_len;
        let local = usize::try_from(offset).ok()?;
        if u32_at(local)? != 0x0403_4b50 {
            return None;
        }
        let start =
            local + 30 + usize::from(u16_at(local + 26)?) + usize::from(u16_at(local + 28)?);
        let body = zip.get(start..start.checked_add(usize::try_from(compressed).ok()?)?)?;
        let data = match method {
            0 => body.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(
                body,
                usize::try_from(size).ok()?,
            )
            .ok()?,
            _ => return None,
        };
        if data.len() as u64 != size || crc32(&data) != crc {
            return None;
        }
        out.push((name, data));
    }
    Some(out)
}

/// [`read_zip`], under the name older tests use.
#[must_use]
pub fn read_stored(zip: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    read_zip(zip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn an_archive_reads_back() {
        let mut z = ZipWriter::new();
        z.add("a.txt", b"hello").expect("add");
        z.add("dir/b.csv", b"x,y\n1,2\n").expect("add");
        let bytes = z.finish().expect("finish");
        let entries = read_stored(&bytes).expect("read");
        assert_eq!(entries[0], ("a.txt".to_owned(), b"hello".to_vec()));
        assert_eq!(entries[1].0, "dir/b.csv");
        // The end of central directory record counts both entries.
        assert_eq!(&bytes[bytes.len() - 12..bytes.len() - 10], &[2, 0]);
    }

    fn sample() -> Vec<u8> {
        (0..300_000u32)
            .flat_map(|i| format!("{{\"line\":{i}}}\n").into_bytes())
            .collect()
    }

    #[test]
    fn streamed_deflated_entries_read_back_with_and_without_zip64() {
        let big = sample();
        for forced in [false, true] {
            let mut z = ZipStream::new(Vec::new());
            if forced {
                z = z.force_zip64();
            }
            z.add("small.json", Method::Deflated, b"{\"a\":1}").unwrap();
            z.add_reader("fhir/Observation.ndjson", &mut &big[..], big.len() as u64)
                .unwrap();
            z.add("stored.txt", Method::Stored, b"kept as is").unwrap();
            z.add_reader("empty.csv", &mut &b""[..], 0).unwrap();
            let bytes = z.finish().unwrap();
            let entries = read_zip(&bytes).expect("reads back");
            let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names,
                [
                    "small.json",
                    "fhir/Observation.ndjson",
                    "stored.txt",
                    "empty.csv"
                ]
            );
            assert_eq!(entries[1].1, big);
            assert_eq!(entries[2].1, b"kept as is");
            assert!(entries[3].1.is_empty());
            // Deflate did its work, and ZIP64 shows where it was forced.
            assert!(bytes.len() < big.len() / 4, "{} bytes", bytes.len());
            let has_zip64_end = bytes.windows(4).any(|w| w == 0x0606_4b50u32.to_le_bytes());
            assert_eq!(has_zip64_end, forced);
        }
    }

    #[test]
    fn a_damaged_entry_does_not_read_back() {
        let mut z = ZipStream::new(Vec::new());
        z.add_reader("a.ndjson", &mut &sample()[..], 0).unwrap();
        let mut bytes = z.finish().unwrap();
        bytes[200] ^= 0x55;
        assert!(read_zip(&bytes).is_none());
        assert!(read_zip(b"PK\x05\x06 not a zip").is_none());
    }

    #[test]
    fn the_in_memory_writer_refuses_what_needs_zip64() {
        let mut z = ZipWriter::new();
        for i in 0..0xFFFE {
            z.add(&format!("{i}"), b"").unwrap();
        }
        assert_eq!(z.add("one too many", b""), Err(ZipError::TooLarge));
    }
}
