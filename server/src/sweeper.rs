//! Periodic removal of expired objects, abandoned uploads and old tombstones, and a recount of
//! stored bytes for the quota. Safe to run on every replica at once: every step is idempotent.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::AppState;
use crate::error::{ApiError, GoneReason};
use crate::metrics::Metrics;
use crate::objects::{Meta, Object, now};
use crate::storage::{Key, ObjectInfo};

/// Runs [`sweep`] every `sweep_interval` seconds, forever.
pub async fn run(state: AppState) {
    let period = Duration::from_secs(state.settings.sweep_interval.max(1));
    loop {
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = %e, "sweep failed");
        }
        tokio::time::sleep(period).await;
    }
}

/// Groups listed objects by the prefix of `depth` segments.
fn group(items: Vec<ObjectInfo>, depth: usize) -> BTreeMap<String, Vec<ObjectInfo>> {
    let mut groups: BTreeMap<String, Vec<ObjectInfo>> = BTreeMap::new();
    for item in items {
        let segs: Vec<&str> = item.key.segments().collect();
        if segs.len() > depth {
            groups
                .entry(segs[..depth].join("/"))
                .or_default()
                .push(item);
        }
    }
    groups
}

/// One pass over storage.
///
/// # Errors
/// On storage failure.
pub async fn sweep(state: &AppState) -> Result<(), ApiError> {
    let store = &state.objects.store;
    let s = &state.settings;
    let t = now();
    let mut usage = 0u64;

    // Shares, links and contributions: `shares/ID/...`, `shl/ID/...` and `studies/SID/c/CID/...`.
    let mut uploads: Vec<(Object, Vec<ObjectInfo>)> = Vec::new();
    for (prefix, items) in group(store.list(&Key::new(&["shares"])?).await?, 2) {
        if let Some(id) = prefix.split('/').nth(1) {
            uploads.push((Object::share(id)?, items));
        }
    }
    // SMART Health Links live and die as shares do.
    for (prefix, items) in group(store.list(&Key::new(&["shl"])?).await?, 2) {
        if let Some(id) = prefix.split('/').nth(1) {
            uploads.push((Object::shl(id)?, items));
        }
    }
    let studies = group(store.list(&Key::new(&["studies"])?).await?, 2);
    // Keys named by live studies are kept whatever their age.
    let mut used_keys = std::collections::HashSet::new();
    for (prefix, items) in &studies {
        let Some(sid) = prefix.split('/').nth(1) else {
            continue;
        };
        let mut contributions: BTreeMap<String, Vec<ObjectInfo>> = BTreeMap::new();
        let mut study_meta = None;
        for item in items {
            let segs: Vec<&str> = item.key.segments().collect();
            if segs.len() >= 5 && segs[2] == "c" {
                contributions
                    .entry(segs[3].to_owned())
                    .or_default()
                    .push(item.clone());
            } else if segs.len() == 3 && segs[2] == "meta" {
                study_meta = Some(item.clone());
            }
        }
        let study = Object::study(sid)?;
        let expired = match &study_meta {
            Some(info) => match store.get(&info.key).await {
                Ok(bytes) => serde_json::from_slice::<crate::handlers::studies::StudyMeta>(&bytes)
                    .is_ok_and(|m| t >= m.expires_at),
                Err(_) => false,
            },
            // A study without metadata is a crashed creation or an interrupted purge.
            None => items.iter().all(|i| i.modified + s.upload_grace < t),
        };
        if !expired
            && let Some(info) = &study_meta
            && let Ok(bytes) = store.get(&info.key).await
            && let Ok(m) = serde_json::from_slice::<crate::handlers::studies::StudyMeta>(&bytes)
            && let Ok(fp) = crate::handlers::keys::parse_fingerprint(&m.key_fingerprint)
        {
            used_keys.insert(fp.to_b64url());
        }
        if expired {
            if study_meta.is_some() {
                state
                    .objects
                    .write_tomb(&study, GoneReason::Expired)
                    .await?;
            }
            state.objects.purge(&study).await?;
            Metrics::inc(&state.metrics.swept);
            continue;
        }
        for (cid, items) in contributions {
            uploads.push((Object::contribution(sid, &cid)?, items));
        }
    }

    for (obj, items) in uploads {
        let meta_key = obj.meta_key()?;
        let meta: Option<Meta> = match items.iter().find(|i| i.key == meta_key) {
            Some(_) => match store.get(&meta_key).await {
                Ok(bytes) => serde_json::from_slice(&bytes).ok(),
                Err(_) => None,
            },
            None => None,
        };
        let complete = items
            .iter()
            .any(|i| i.key.segments().last() == Some("complete"));
        let tomb = state.objects.tomb(&obj).await?;
        let remove = match (&meta, &tomb) {
            // Buried but not yet purged (the last download's stream may still be running).
            // A cut-off last download may be resumed for --resume-ttl.
            (_, Some(tomb)) => {
                tomb.at + 3600.max(s.resume_ttl.saturating_add(s.purge_delay)) < t || meta.is_none()
            }
            (Some(meta), None) if t >= meta.expires_at => {
                state.objects.write_tomb(&obj, GoneReason::Expired).await?;
                true
            }
            (Some(meta), None) => !complete && meta.created_at + s.upload_grace < t,
            // Parts without metadata: an interrupted purge.
            (None, None) => items.iter().all(|i| i.modified + s.upload_grace < t),
        };
        if remove {
            state.objects.purge(&obj).await?;
            Metrics::inc(&state.metrics.swept);
        } else {
            usage += items
                .iter()
                .filter(|i| i.key.segments().any(|seg| seg == "p"))
                .map(|i| i.size)
                .sum::<u64>();
        }
    }

    for tomb in store.list(&Key::new(&["tombs"])?).await? {
        if tomb.modified + s.tombstone_ttl < t {
            store.delete(&tomb.key).await?;
        }
    }
    // Public keys: removed --key-ttl after publication unless a live study names them.
    let mut keys = 0u64;
    for key in store.list(&Key::new(&["keys"])?).await? {
        let name = key.key.segments().last().unwrap_or_default();
        if key.modified.saturating_add(s.key_ttl) < t && !used_keys.contains(name) {
            store.delete(&key.key).await?;
            Metrics::inc(&state.metrics.swept);
        } else {
            keys += 1;
        }
    }
    state.key_count.store(keys, Ordering::Relaxed);
    state.objects.usage.store(usage, Ordering::Relaxed);
    state.limiter.prune();
    state.budgets.prune();
    Ok(())
}
