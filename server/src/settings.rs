//! Configuration by command-line flags and environment variables. Every flag has an environment
//! variable of the same name in upper case with the `MEDSEAL_` prefix; `--help` lists them all.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// MedSeal's blob server. It holds only ciphertext, public keys, signed public study
/// descriptions and hashes of tokens, and serves the browser app.
#[derive(Clone, Debug, Parser)]
#[command(name = "medseal-server", version, about, long_about = None)]
pub struct Settings {
    /// Address to listen on. Use port 0 to let the system choose; the chosen address is printed
    /// as `MedSeal listening on http://ADDR:PORT`. Never all interfaces by default.
    #[arg(long, env = "MEDSEAL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Folder of the local storage backend (created if missing).
    #[arg(long, env = "MEDSEAL_DATA_DIR", default_value = "./medseal-data")]
    pub data_dir: PathBuf,

    /// Storage backend: `local` (the folder given by --data-dir) or `s3://BUCKET[/PREFIX]`.
    /// For S3 the endpoint, region and credentials come from the usual AWS_* variables
    /// (AWS_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP).
    #[arg(long, env = "MEDSEAL_STORAGE", default_value = "local")]
    pub storage: String,

    /// Folder of the built single-page app, served with index.html as the fallback.
    #[arg(long, env = "MEDSEAL_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Largest object (share or contribution ciphertext) in bytes.
    #[arg(long, env = "MEDSEAL_MAX_OBJECT_SIZE", default_value_t = 4 * 1024 * 1024 * 1024)]
    pub max_object_size: u64,

    /// Size of every upload part except the last, in bytes. It is also the largest part body.
    #[arg(long, env = "MEDSEAL_PART_SIZE", default_value_t = 4 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub part_size: u64,

    /// Memory for upload part bodies being received and stored, in bytes, across all clients.
    /// A part body takes its bytes of this budget as they arrive and holds them until it is
    /// stored; a body that does not fit waits (within --min-body-rate), so many slow or
    /// concurrent uploads cannot grow the server's memory past it, and a slow body holds only
    /// what it sent. At least one part always fits.
    #[arg(long, env = "MEDSEAL_UPLOAD_MEMORY", default_value_t = 64 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub upload_memory: u64,

    /// Largest JSON or key request body in bytes.
    #[arg(long, env = "MEDSEAL_MAX_REQUEST_BODY", default_value_t = 64 * 1024)]
    pub max_request_body: usize,

    /// Shortest expiry a client may ask for, in seconds.
    #[arg(long, env = "MEDSEAL_MIN_EXPIRY", default_value_t = 60)]
    pub min_expiry: u64,

    /// Longest expiry a client may ask for, in seconds (default 30 days).
    #[arg(long, env = "MEDSEAL_MAX_EXPIRY", default_value_t = 30 * 24 * 3600)]
    pub max_expiry: u64,

    /// Highest download limit a share may have.
    #[arg(long, env = "MEDSEAL_MAX_DOWNLOADS", default_value_t = 100)]
    pub max_downloads: u32,

    /// How long a study stays after its closing date so the researcher can fetch the bundle,
    /// in seconds (default 30 days). Studies without a closing date live for --max-expiry.
    #[arg(long, env = "MEDSEAL_STUDY_RETENTION", default_value_t = 30 * 24 * 3600)]
    pub study_retention: u64,

    /// Global storage quota in bytes over all stored ciphertext.
    #[arg(long, env = "MEDSEAL_QUOTA", default_value_t = 50 * 1024 * 1024 * 1024)]
    pub quota: u64,

    /// Requests per second each client may make to /api on average.
    #[arg(long, env = "MEDSEAL_RATE_LIMIT", default_value_t = 20.0)]
    pub rate_limit: f64,

    /// Requests a client may make at once above the average rate.
    #[arg(long, env = "MEDSEAL_RATE_BURST", default_value_t = 200.0)]
    pub rate_burst: f64,

    /// Take the client address for rate limits from the last X-Forwarded-For entry (only
    /// behind a trusted load balancer). Addresses are never logged or stored.
    #[arg(long, env = "MEDSEAL_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Seconds between sweeps that remove expired objects, old tombstones and abandoned uploads.
    #[arg(long, env = "MEDSEAL_SWEEP_INTERVAL", default_value_t = 60)]
    pub sweep_interval: u64,

    /// Seconds an upload may stay incomplete before the sweeper removes it (default 1 day).
    #[arg(long, env = "MEDSEAL_UPLOAD_GRACE", default_value_t = 24 * 3600)]
    pub upload_grace: u64,

    /// Seconds a tombstone (the reason a share is gone) is kept (default 30 days).
    #[arg(long, env = "MEDSEAL_TOMBSTONE_TTL", default_value_t = 30 * 24 * 3600)]
    pub tombstone_ttl: u64,

    /// Seconds between the end of a share's last allowed download and the deletion of its
    /// data, so that downloads still streaming through other replicas can finish. New requests
    /// get 410 `used_up` at once.
    #[arg(long, env = "MEDSEAL_PURGE_DELAY", default_value_t = 30)]
    pub purge_delay: u64,

    /// S3 only: milliseconds to wait before reading back a claimed download slot. Keeps limits
    /// exact on S3-compatible servers whose conditional writes are not atomic; 0 for AWS S3.
    #[arg(long, env = "MEDSEAL_S3_CLAIM_SETTLE_MS", default_value_t = 100)]
    pub s3_claim_settle_ms: u64,

    /// Seconds a download's resume token stays valid (`MedSeal-Resume-Token`, see API.md). A
    /// used-up share whose last download was cut off keeps its data this long, so the download
    /// can be resumed; a download that was sent whole is purged after --purge-delay as before.
    #[arg(long, env = "MEDSEAL_RESUME_TTL", default_value_t = 3600)]
    pub resume_ttl: u64,

    /// Seconds a client may take to send a request's headers before the connection is closed.
    #[arg(long, env = "MEDSEAL_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,

    /// Seconds of grace before --min-body-rate applies to a request body.
    #[arg(long, env = "MEDSEAL_BODY_GRACE", default_value_t = 10)]
    pub body_grace: u64,

    /// Slowest accepted request body, in bytes per second on average after --body-grace: a
    /// slower body is refused with 408 `too_slow` (0 turns the check off).
    #[arg(long, env = "MEDSEAL_MIN_BODY_RATE", default_value_t = 1024)]
    pub min_body_rate: u64,

    /// Part uploads one client address may have in flight at once; more get 429
    /// `too_many_parts` with Retry-After. IPv6 addresses are grouped by /64.
    #[arg(long, env = "MEDSEAL_MAX_PARTS_PER_CLIENT", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parts_per_client: u32,

    /// Bytes one client address may announce for new shares, contributions and keys per
    /// --client-quota-window (default 8 GiB); more get 429 `client_quota` with Retry-After.
    /// Kept in memory per replica, never logged or stored.
    #[arg(long, env = "MEDSEAL_CLIENT_QUOTA", default_value_t = 8 * 1024 * 1024 * 1024)]
    pub client_quota: u64,

    /// Seconds of the window of --client-quota (default 1 day).
    #[arg(long, env = "MEDSEAL_CLIENT_QUOTA_WINDOW", default_value_t = 24 * 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub client_quota_window: u64,

    /// Most public keys stored at once; more get 507 `key_quota`.
    #[arg(long, env = "MEDSEAL_MAX_KEYS", default_value_t = 100_000)]
    pub max_keys: u64,

    /// Seconds a published key is kept after its publication while no live study names it
    /// (default 60 days); the sweeper removes it after that.
    #[arg(long, env = "MEDSEAL_KEY_TTL", default_value_t = 60 * 24 * 3600)]
    pub key_ttl: u64,

    /// Send `Strict-Transport-Security: max-age=--hsts-max-age` on every response. Turn it on
    /// only when the server is reached over HTTPS (directly or behind a TLS proxy).
    #[arg(long, env = "MEDSEAL_HSTS", default_value_t = false)]
    pub hsts: bool,

    /// The max-age of --hsts, in seconds (default 1 year).
    #[arg(long, env = "MEDSEAL_HSTS_MAX_AGE", default_value_t = 365 * 24 * 3600)]
    pub hsts_max_age: u64,

    /// Lets the app open SMART Health Links whose manifest is on a plain-http host (the page's
    /// Content-Security-Policy then allows `http:` connections too). For tests on loopback;
    /// off, only https hosts (and this server) are reached.
    #[arg(long, env = "MEDSEAL_SHL_ALLOW_HTTP", default_value_t = false)]
    pub shl_allow_http: bool,

    /// The origin this server is reached at, such as `https://medseal.example.org`, for the
    /// absolute URLs of SMART Health Links (`location` files). Without it the request's
    /// `Host` header is used, with `https` when `X-Forwarded-Proto: https` says so.
    #[arg(long, env = "MEDSEAL_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Largest file of a SMART Health Link (its JWE), bytes.
    #[arg(long, env = "MEDSEAL_SHL_MAX_FILE", default_value_t = 32 * 1024 * 1024)]
    pub shl_max_file: u64,

    /// Files of a SMART Health Link up to this size are embedded in its manifest (unless the
    /// request's `embeddedLengthMax` is smaller); larger ones are given as `location` URLs.
    #[arg(long, env = "MEDSEAL_SHL_EMBED_MAX", default_value_t = 512 * 1024)]
    pub shl_embed_max: u64,

    /// Log filter (tracing EnvFilter syntax), such as `info` or `medseal_server=debug`.
    #[arg(long, env = "MEDSEAL_LOG", default_value = "info")]
    pub log: String,
}

impl Settings {
    /// Settings for tests: everything default, data in `data_dir`, no static folder.
    #[must_use]
    pub fn for_tests(data_dir: PathBuf) -> Self {
        let mut settings = Self::parse_from(["medseal-server"]);
        settings.static_dir = data_dir.join("no-static");
        settings.data_dir = data_dir;
        settings
    }
}
