//! What `kiln build` does with its build's record: keeps it under the
//! root (the newest `[history] maxEntries` of them), and writes it as a
//! timeline (`--timeline`) or a trace (`--export-trace`) when asked.

use kiln_solver::record::BuildRecord;
use kiln_solver::record::RecordStore;

use super::{history, Args};
use crate::globals::Globals;

pub fn keep(record: &BuildRecord, args: &Args, globals: &Globals) -> anyhow::Result<()> {
    let kept = crate::config::history_entries(globals)
        .and_then(|n| Ok(RecordStore::new(&globals.root).save(record, n)?));
    // The build is done either way; only its history is lost.
    if let Err(e) = kept {
        eprintln!("kiln: warning: the build's record was not kept: {e:#}");
    }
    if let Some(path) = &args.timeline {
        history::write_timeline(record, path)?;
    }
    if let Some(path) = &args.export_trace {
        history::write_trace(record, path)?;
    }
    Ok(())
}
