//! The server's one integration test binary.
//!
//! - `handlers`: the API called without a socket;
//! - `errors`: every error answer is JSON with a stable code;
//! - `studies`: keys, studies, contributions and bundles;
//! - `http`: a real listener on port 0;
//! - `openapi`: the OpenAPI document against real answers (schemathesis regressions);
//! - `s3`: the S3 backend against s3s-fs, two replicas on one bucket;
//! - `full_disk`: ENOSPC on a real 1 MiB tmpfs (needs root or CAP_SYS_ADMIN; fails, not
//!   skips, without) and on every write path through a failing store;
//! - `crash`: SIGKILL during uploads, then restart;
//! - `hardening`: download counting and resume tokens, slow and greedy clients, key quota,
//!   admin deletion, HSTS (issue 13);
//! - `load`: many concurrent uploads and downloads (MEDSEAL_LOAD_MB sets the size).

mod crash;
mod errors;
mod full_disk;
mod handlers;
mod hardening;
mod http;
mod load;
mod openapi;
mod s3;
mod shl;
mod studies;
mod support;
