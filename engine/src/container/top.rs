//! The processes of a running container (`top`): every process whose
//! cgroup is the container's, as `/proc` shows them.

use std::fs;

use kiln_runtime::container::state::Status;

use crate::{Engine, Error};

/// One process. `uid` and `ppid` are as `/proc/PID/status` gives them
/// (`?` when it could not be read: the process may just have gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub uid: String,
    pub pid: u32,
    pub ppid: String,
    pub args: Vec<String>,
}

impl Engine {
    pub fn top(&self, key: &str) -> Result<Vec<Process>, Error> {
        let c = self.container(key)?;
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            return Err(Error::NotRunning(c.record.name));
        }
        let cgroup = format!("kiln/{}", c.record.id);
        let mut found = Vec::new();
        for entry in fs::read_dir("/proc").map_err(Error::Proc)?.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if cg.contains(&cgroup) {
                found.push(process(pid));
            }
        }
        Ok(found)
    }
}

fn process(pid: u32) -> Process {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    Process {
        uid: status_field(&status, "Uid:"),
        pid,
        ppid: status_field(&status, "PPid:"),
        args: cmdline
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect(),
    }
}

/// The first word after `key` in `/proc/PID/status` (the real ID for
/// `Uid:`).
fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("?")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_reads_as_top_shows_it() {
        let me = process(std::process::id());
        let uid = nix::unistd::getuid().to_string();
        assert_eq!(me.uid, uid);
        assert_eq!(me.ppid, std::os::unix::process::parent_id().to_string());
        assert!(!me.args.is_empty());
        assert_eq!(status_field("Name:\tx\n", "Uid:"), "?");
    }
}
