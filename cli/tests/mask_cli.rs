//! `medseal mask` end to end: keeps the input's form, prints the report with --report, and the
//! same key file gives the same pseudonyms.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../core/tests/fixtures/synthea-r4/Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json",
    )
}

fn run(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medseal"))
        .args(args)
        .output()
        .expect("medseal runs")
}

#[test]
fn mask_keeps_the_form_and_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("study.key");
    std::fs::write(&key, [42u8; 32]).expect("key file");
    let (out1, out2) = (dir.path().join("a.json"), dir.path().join("b.json"));
    for out in [&out1, &out2] {
        let fx = fixture();
        let args: [&OsStr; 7] = [
            "mask".as_ref(),
            "--key-file".as_ref(),
            key.as_os_str(),
            "--report".as_ref(),
            fx.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ];
        let o = run(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains("changes under the safe-harbor policy"),
            "{stderr}"
        );
    }
    let a = std::fs::read_to_string(&out1).expect("output");
    assert_eq!(
        a,
        std::fs::read_to_string(&out2).expect("output"),
        "same key, same output"
    );
    assert!(
        a.trim_start().starts_with('{') && a.contains("\"resourceType\": \"Bundle\""),
        "Bundle in, Bundle out"
    );
    assert!(!a.contains("Carolee951") && !a.contains("999-33-5538"));

    // CSV in, CSV out, on stdout.
    let csv = dir.path().join("p.csv");
    std::fs::write(&csv, "Id,FIRST,ZIP,NOTES\n1,Ann,03601,Ann is well\n").expect("csv");
    let o = run(&[
        "mask".as_ref(),
        "--key-file".as_ref(),
        key.as_os_str(),
        csv.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).expect("UTF-8");
    assert!(
        text.starts_with("Id,FIRST,ZIP,NOTES\n") && text.contains(",,000,[NAME] is well"),
        "{text}"
    );

    // A bad policy is refused with a clear message.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"format":"medseal-mask-policy","version":9,"name":"x","rules":[]}"#,
    )
    .expect("policy");
    let o = run(&[
        "mask".as_ref(),
        "--policy".as_ref(),
        bad.as_os_str(),
        csv.as_os_str(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("version 9 is not supported"));
}
