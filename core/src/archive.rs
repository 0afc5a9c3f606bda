//! A minimal ZIP writer (PKWARE APPNOTE 6.3.x): stored entries with CRC-32, no compression and
//! no ZIP64, which every unzip tool reads. The research export is a zip of text files.

/// Why an archive could not be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZipError {
    /// An entry or the archive passes 4 GiB, or there are more than 65535 entries.
    #[error("the export is too large for a ZIP file without ZIP64 (4 GiB, 65535 files)")]
    TooLarge,
}

fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *slot = c;
    }
    table
}

/// CRC-32 (ISO-HDLC), as ZIP uses.
#[must_use]
pub fn crc32(data: &[u8]) -> u32 {
    let table = crc_table();
    let mut c = 0xFFFF_FFFFu32;
    for b in data {
        c = table[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

/// Builds a ZIP archive in memory.
#[derive(Default)]
pub struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

/// 1980-01-01 00:00 in MS-DOS form: the export carries no real timestamps.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;

impl ZipWriter {
    /// An empty archive.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file.
    ///
    /// # Errors
    /// [`ZipError::TooLarge`].
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<(), ZipError> {
        let size = u32::try_from(data.len()).map_err(|_| ZipError::TooLarge)?;
        let offset = u32::try_from(self.out.len()).map_err(|_| ZipError::TooLarge)?;
        let name_len = u16::try_from(name.len()).map_err(|_| ZipError::TooLarge)?;
        self.count = self.count.checked_add(1).ok_or(ZipError::TooLarge)?;
        let crc = crc32(data);
        // Bit 11: the name is UTF-8.
        let flags: u16 = 1 << 11;
        let local = &mut self.out;
        local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        local.extend_from_slice(&20u16.to_le_bytes());
        local.extend_from_slice(&flags.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes()); // stored
        local.extend_from_slice(&DOS_TIME.to_le_bytes());
        local.extend_from_slice(&DOS_DATE.to_le_bytes());
        local.extend_from_slice(&crc.to_le_bytes());
        local.extend_from_slice(&size.to_le_bytes());
        local.extend_from_slice(&size.to_le_bytes());
        local.extend_from_slice(&name_len.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes());
        local.extend_from_slice(name.as_bytes());
        local.extend_from_slice(data);
        if u32::try_from(self.out.len()).is_err() {
            return Err(ZipError::TooLarge);
        }
        let c = &mut self.central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes()); // made by
        c.extend_from_slice(&20u16.to_le_bytes()); // needed
        c.extend_from_slice(&flags.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&DOS_TIME.to_le_bytes());
        c.extend_from_slice(&DOS_DATE.to_le_bytes());
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        c.extend_from_slice(&name_len.to_le_bytes());
        c.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
        c.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name.as_bytes());
        Ok(())
    }

    /// The finished archive.
    ///
    /// # Errors
    /// [`ZipError::TooLarge`].
    pub fn finish(mut self) -> Result<Vec<u8>, ZipError> {
        let offset = u32::try_from(self.out.len()).map_err(|_| ZipError::TooLarge)?;
        let size = u32::try_from(self.central.len()).map_err(|_| ZipError::TooLarge)?;
        self.out.append(&mut self.central);
        let o = &mut self.out;
        o.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        o.extend_from_slice(&[0; 4]); // disk numbers
        o.extend_from_slice(&self.count.to_le_bytes());
        o.extend_from_slice(&self.count.to_le_bytes());
        o.extend_from_slice(&size.to_le_bytes());
        o.extend_from_slice(&offset.to_le_bytes());
        o.extend_from_slice(&0u16.to_le_bytes());
        u32::try_from(self.out.len()).map_err(|_| ZipError::TooLarge)?;
        Ok(self.out)
    }
}

/// Reads the entries of an archive written by [`ZipWriter`] (stored entries only), for tests
/// and for tools that check an export.
#[must_use]
pub fn read_stored(zip: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let u16_at =
        |i: usize| -> Option<u16> { Some(u16::from_le_bytes(zip.get(i..i + 2)?.try_into().ok()?)) };
    let u32_at =
        |i: usize| -> Option<u32> { Some(u32::from_le_bytes(zip.get(i..i + 4)?.try_into().ok()?)) };
    while u32_at(at)? == 0x0403_4b50 {
        if u16_at(at + 8)? != 0 {
            return None;
        }
        let crc = u32_at(at + 14)?;
        let size = u32_at(at + 18)? as usize;
        let name_len = u16_at(at + 26)? as usize;
        let extra = u16_at(at + 28)? as usize;
        let name = std::str::from_utf8(zip.get(at + 30..at + 30 + name_len)?).ok()?;
        let start = at + 30 + name_len + extra;
        let data = zip.get(start..start + size)?;
        if crc32(data) != crc {
            return None;
        }
        out.push((name.to_owned(), data.to_vec()));
        at = start + size;
    }
    Some(out)
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
}
