//! `type=cache`: a directory kept in the store between builds, as an
//! `exec.cachemount` record over a mutable snapshot. It is never a layer
//! and never a key ingredient. Unlike BuildKit, `--no-cache` keeps it:
//! people re-run steps with `--no-cache` without wanting every package
//! downloaded again (moby/buildkit issues 1213, 1364, 2447, 4250);
//! `--no-cache-mounts` empties it for one build.
//!
//! `sharing=` maps onto one lock file per id: `shared` takes a shared
//! lock, `locked` an exclusive one (waiting), `private` tries an exclusive
//! one and, when another step holds it, gets a fresh throw-away directory
//! (BuildKit makes a new instance in that case).

use std::fs::{self, File, TryLockError};
use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::{Path, PathBuf};

use kiln_cache::{Ingredient, NewRecord, NewSnapshot, RecordKind, SnapshotId, StagingDir, Store};
use kiln_parser::ast::CacheSharing;

use crate::dispatch::{MountFrom, RunMount};

use super::tree::materialize;
use super::{io, MountEnv, MountError};

/// The cache key of the record holding cache mount `id`.
pub fn record_key(id: &str) -> String {
    format!("exec.cachemount:{id}")
}

fn lock_file(store: &Store, id: &str) -> Result<File, MountError> {
    let dir = store.root().join("builds").join("cache-mounts");
    fs::create_dir_all(&dir).map_err(io(dir.display()))?;
    let path = dir.join(format!("{}.lock", blake3::hash(id.as_bytes()).to_hex()));
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(path.display()))
}

/// The directory to bind for cache mount `m` (number `n` of its step), and
/// the lock to hold while the step runs.
pub fn acquire(
    env: &MountEnv<'_>,
    m: &RunMount,
    n: usize,
) -> Result<(PathBuf, Option<File>), MountError> {
    let RunMount::Cache { id, sharing, .. } = m else {
        return Err(MountError::NoStage);
    };
    let lock = lock_file(env.store, id)?;
    match sharing {
        CacheSharing::Private => match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let dir = env.scratch.join(format!("cache{n}"));
                fresh(env, m, &dir)?;
                return Ok((dir, None));
            }
            Err(TryLockError::Error(e)) => return Err(io("locking a cache mount")(e)),
        },
        CacheSharing::Shared if !env.inputs.no_cache_mounts => return join_shared(env, m, lock),
        _ => lock.lock().map_err(io("locking a cache mount"))?,
    }
    let path = find_or_create(env, m)?;
    if env.inputs.no_cache_mounts {
        let first = env
            .inputs
            .emptied
            .lock()
            .map(|mut e| e.insert(id.clone()))
            .unwrap_or(false);
        if first {
            empty(&path)?;
        }
    }
    if *sharing == CacheSharing::Shared {
        // Downgrade: other shared users may now run beside this step.
        lock.lock_shared().map_err(io("locking a cache mount"))?;
    }
    Ok((path, Some(lock)))
}

/// A `shared` step joins the steps already using mount `m` without
/// waiting for them: it takes the exclusive lock only to make the
/// directory, and only while nobody holds the id, since waiting for the
/// exclusive lock behind a running shared step would make shared steps
/// take turns.
fn join_shared(
    env: &MountEnv<'_>,
    m: &RunMount,
    lock: File,
) -> Result<(PathBuf, Option<File>), MountError> {
    let RunMount::Cache { id, .. } = m else {
        return Err(MountError::NoStage);
    };
    loop {
        lock.lock_shared().map_err(io("locking a cache mount"))?;
        if let Some((rec, _, path)) = current(env.store, id)? {
            env.store.use_record(&rec)?;
            return Ok((path, Some(lock)));
        }
        // Converting a flock is not atomic: a failed try leaves no lock,
        // and the loop takes the shared one again.
        match lock.try_lock() {
            Ok(()) => {
                let path = find_or_create(env, m)?;
                lock.lock_shared().map_err(io("locking a cache mount"))?;
                return Ok((path, Some(lock)));
            }
            Err(TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(TryLockError::Error(e)) => return Err(io("locking a cache mount")(e)),
        }
    }
}

/// Called with the id's lock held exclusively.
fn find_or_create(env: &MountEnv<'_>, m: &RunMount) -> Result<PathBuf, MountError> {
    let RunMount::Cache { id, target, .. } = m else {
        return Err(MountError::NoStage);
    };
    if let Some((rec, _, path)) = current(env.store, id)? {
        env.store.use_record(&rec)?;
        return Ok(path);
    }
    let staging = env.store.new_snapshot_staging()?;
    fresh(env, m, staging.path())?;
    commit_new(env.store, id, target, staging)
}

/// Cache mount `id`'s record ID, snapshot and directory, when the store
/// has the directory.
fn current(store: &Store, id: &str) -> Result<Option<(String, SnapshotId, PathBuf)>, MountError> {
    let Some(rec) = store.record_by_key(&record_key(id))? else {
        return Ok(None);
    };
    let Some(s) = rec.snapshot else {
        return Ok(None);
    };
    let path = store.snapshot_path(&s);
    Ok(path.is_dir().then_some((rec.id, s, path)))
}

/// `staging` becomes cache mount `id`'s directory, recorded under its key.
fn commit_new(
    store: &Store,
    id: &str,
    target: &str,
    staging: StagingDir,
) -> Result<PathBuf, MountError> {
    let snapshot = store.commit_snapshot(
        staging,
        NewSnapshot {
            diff_id: None,
            tar_size: None,
            parent: None,
            created_by: format!("cache mount {id}"),
        },
    )?;
    let rec = store.add_record(NewRecord {
        cache_key: Some(record_key(id)),
        parent: None,
        snapshot: Some(snapshot.clone()),
        ingredients: vec![Ingredient {
            name: "cache-mount-id".into(),
            value: id.to_string(),
        }],
        description: format!("cache mount {target} (id={id})"),
        kind: RecordKind::CacheMount,
    })?;
    store.use_record(&rec.id)?;
    Ok(store.snapshot_path(&snapshot))
}

/// A shared hold on cache mount `id`, for reading it whole while no
/// `locked` or `private` step writes it.
pub fn lock_shared(store: &Store, id: &str) -> Result<File, MountError> {
    let lock = lock_file(store, id)?;
    lock.lock_shared().map_err(io("locking a cache mount"))?;
    Ok(lock)
}

/// The directory of cache mount `id` when the store has one with content.
pub fn existing(store: &Store, id: &str) -> Result<Option<(PathBuf, SnapshotId)>, MountError> {
    let Some((_, s, path)) = current(store, id)? else {
        return Ok(None);
    };
    let empty = fs::read_dir(&path).map_or(true, |mut d| d.next().is_none());
    Ok((!empty).then_some((path, s)))
}

/// Seeds cache mount `m` with `staging` (content restored from a remote
/// cache) when the store has no directory for its id or an empty one;
/// one with content is left as it is, never merged into. The root takes
/// the mount's owner and mode, as a fresh one would. Returns whether the
/// content went in.
pub fn seed(store: &Store, m: &RunMount, staging: StagingDir) -> Result<bool, MountError> {
    let RunMount::Cache { id, target, .. } = m else {
        return Err(MountError::NoStage);
    };
    let lock = lock_file(store, id)?;
    lock.lock().map_err(io("locking a cache mount"))?;
    let dir = staging.path().to_path_buf();
    own_root(m, &dir)?;
    let Some((_, _, path)) = current(store, id)? else {
        commit_new(store, id, target, staging)?;
        return Ok(true);
    };
    if fs::read_dir(&path)
        .map_err(io(path.display()))?
        .next()
        .is_some()
    {
        return Ok(false);
    }
    for e in fs::read_dir(&dir).map_err(io(dir.display()))? {
        let e = e.map_err(io(dir.display()))?;
        fs::rename(e.path(), path.join(e.file_name())).map_err(io(path.display()))?;
    }
    Ok(true)
}

/// A new cache directory at `dir`: `from`'s content when given, then the
/// mount's owner and mode on its root.
fn fresh(env: &MountEnv<'_>, m: &RunMount, dir: &Path) -> Result<(), MountError> {
    let RunMount::Cache { from, source, .. } = m else {
        return Err(MountError::NoStage);
    };
    if !matches!(from, MountFrom::Empty | MountFrom::Context) {
        let layers = (env.layers_of)(from).ok_or(MountError::NoStage)?;
        if !layers.layers.is_empty() {
            let tmp = dir.join(".kiln-from");
            materialize(&layers, source, &tmp, false)?;
            for e in fs::read_dir(&tmp).map_err(io(tmp.display()))? {
                let e = e.map_err(io(tmp.display()))?;
                fs::rename(e.path(), dir.join(e.file_name())).map_err(io(dir.display()))?;
            }
            fs::remove_dir(&tmp).map_err(io(tmp.display()))?;
        }
    }
    fs::create_dir_all(dir).map_err(io(dir.display()))?;
    own_root(m, dir)
}

/// Gives `dir`, the root of cache mount `m`, the mount's owner and mode.
fn own_root(m: &RunMount, dir: &Path) -> Result<(), MountError> {
    let RunMount::Cache { mode, uid, gid, .. } = m else {
        return Err(MountError::NoStage);
    };
    lchown(dir, Some(*uid), Some(*gid)).map_err(io(dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(*mode)).map_err(io(dir.display()))
}

/// Removes everything inside `dir`, keeping the directory (its owner and
/// mode stay as the mount asked).
fn empty(dir: &Path) -> Result<(), MountError> {
    for e in fs::read_dir(dir).map_err(io(dir.display()))? {
        let e = e.map_err(io(dir.display()))?;
        let p = e.path();
        let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        r.map_err(io(p.display()))?;
    }
    Ok(())
}
