//! Property tests: random sizes round-trip; any single-byte change is rejected.

use medseal_core::container::{Identity, LinkKey, Recipient, decrypt, encrypt};
use proptest::prelude::*;

use crate::common::{meta, pattern};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_sizes_round_trip(size in 0usize..300_000, piece in 1usize..100_000) {
        let link = LinkKey::generate().unwrap();
        let content = pattern(size);
        let sealed = encrypt(&[Recipient::Link(&link)], &meta("p"), &content).unwrap();
        let (_, back) = decrypt(Identity::Link(&link), &sealed).unwrap();
        prop_assert!(back == content);
        // Streaming with random piece sizes gives the same bytes.
        let (header, hl) = medseal_core::container::Header::parse(&sealed).unwrap();
        let mut dec = medseal_core::container::PayloadDecryptor::new(&header, Identity::Link(&link)).unwrap();
        let mut out = Vec::new();
        for p in sealed[hl..].chunks(piece) {
            out.extend(dec.push(p).unwrap());
        }
        out.extend(dec.finish().unwrap());
        prop_assert!(out == content);
    }

    #[test]
    fn any_single_byte_change_fails(size in 0usize..140_000, pos in any::<prop::sample::Index>(), delta in 1u8..=255) {
        let link = LinkKey::generate().unwrap();
        let content = pattern(size);
        let mut sealed = encrypt(&[Recipient::Link(&link)], &meta("c"), &content).unwrap();
        let i = pos.index(sealed.len());
        sealed[i] = sealed[i].wrapping_add(delta);
        prop_assert!(decrypt(Identity::Link(&link), &sealed).is_err(), "byte {} of {}", i, sealed.len());
    }

    #[test]
    fn any_truncation_or_extension_fails(size in 0usize..140_000, cut in any::<prop::sample::Index>(), extra in 1usize..40) {
        let link = LinkKey::generate().unwrap();
        let sealed = encrypt(&[Recipient::Link(&link)], &meta("t"), &pattern(size)).unwrap();
        let at = cut.index(sealed.len());
        prop_assert!(decrypt(Identity::Link(&link), &sealed[..at]).is_err());
        let mut longer = sealed.clone();
        longer.extend(std::iter::repeat_n(0u8, extra));
        prop_assert!(decrypt(Identity::Link(&link), &longer).is_err());
    }
}
