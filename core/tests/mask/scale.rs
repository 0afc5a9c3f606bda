//! Many patients in one input: the known-identifier sweep must stay linear in the input, not
//! grow with patients × strings.

use medseal_core::mask::{Policy, mask_bytes_with};
use serde_json::Value;

use crate::fixtures::fixtures;
use crate::{key, opts};

/// NDJSON of `n` patients made from the fixtures: each fixture Patient again under a new id
/// and new names, with the first entries of its bundle pointing at it.
pub fn many_patients(n: usize, entries_each: usize) -> String {
    let bundles: Vec<(Value, String, Vec<String>)> = fixtures()
        .into_iter()
        .map(|(path, ids)| {
            let v: Value =
                serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("JSON");
            let id = ids["patients"][0]["id"].as_str().expect("id").to_owned();
            let names: Vec<String> = ids["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter(|i| {
                    i["category"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("name_"))
                })
                .filter_map(|i| i["value"].as_str().map(str::to_owned))
                .collect();
            (v, id, names)
        })
        .collect();
    let mut out = String::new();
    for i in 0..n {
        let (bundle, id, names) = &bundles[i % bundles.len()];
        let new_id = format!("{:08x}-0000-4000-8000-{:012x}", i, i * 7919);
        let entries = bundle["entry"].as_array().expect("entries");
        let patient = entries
            .iter()
            .find(|e| e["resource"]["resourceType"] == "Patient")
            .expect("patient");
        let others = entries
            .iter()
            .filter(|e| e["resource"]["resourceType"] != "Patient")
            .take(entries_each);
        for e in std::iter::once(patient).chain(others) {
            let mut line = e["resource"].to_string().replace(id.as_str(), &new_id);
            for (k, name) in names.iter().enumerate() {
                line = line.replace(name.as_str(), &format!("{name}p{i}n{k}"));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Masks inputs of growing numbers of patients, checks each is counted, and prints the time
/// (a figure to read, never asserted). `MEDSEAL_SWEEP_SIZES=25,50,100,200,400,800 cargo test
/// -p medseal-core --release --test mask scale -- --nocapture` gives the whole curve.
#[test]
fn sweep_time_against_patients() {
    let sizes: Vec<usize> = std::env::var("MEDSEAL_SWEEP_SIZES")
        .unwrap_or_else(|_| "25,100".into())
        .split(',')
        .map(|n| n.trim().parse().expect("MEDSEAL_SWEEP_SIZES: numbers"))
        .collect();
    for n in sizes {
        let input = many_patients(n, 40);
        let started = std::time::Instant::now();
        let (out, report) = mask_bytes_with(
            input.as_bytes(),
            Some("x.ndjson"),
            &Policy::safe_harbor(),
            &key(1),
            &opts(),
        )
        .expect("masks");
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{n:4} patients, {:5.1} MB, {:6} changes: {secs:6.2} s ({:5.1} MB/s), output {} bytes",
            input.len() as f64 / 1e6,
            report.total,
            input.len() as f64 / 1e6 / secs,
            out.len()
        );
        assert_eq!(report.patients, n as u64);
    }
}

#[test]
fn every_patient_of_many_loses_their_names() {
    let input = many_patients(30, 8);
    let (out, report) = crate::mask(
        input.as_bytes(),
        Some("x.ndjson"),
        &Policy::safe_harbor(),
        &key(1),
    );
    assert_eq!(report.patients, 30);
    for i in 0..30 {
        for k in 0..2 {
            let marker = format!("p{i}n{k}");
            assert!(!out.contains(&marker), "patient {i}'s name {k} survived");
            assert!(input.contains(&marker));
        }
    }
}
