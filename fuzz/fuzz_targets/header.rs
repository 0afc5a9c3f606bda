//! Fuzzes the header parser: it must never panic, and whatever it accepts must re-serialize to
//! the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medseal_core::container::Header;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((header, len))) = Header::parse_prefix(data) {
        assert_eq!(header.to_bytes(), &data[..len]);
        let _ = header.needs_password();
    }
});
