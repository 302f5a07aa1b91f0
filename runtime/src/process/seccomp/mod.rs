//! Seccomp: an OCI `LinuxSeccomp` profile compiled to BPF with seccompiler.
//!
//! seccompiler gives one match action per filter, OCI one action per rule,
//! so a profile becomes several filters: first the allow-list (mismatch →
//! the profile's default action), then one filter per other action. The
//! kernel runs every filter and keeps the most restrictive answer, taking
//! the newest filter's on a tie, so `clone3 → ENOSYS` installed after the
//! allow-list wins over its default `EPERM`.

pub mod profile;

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator};
use seccompiler::{BpfProgram, TargetArch};
use serde_json::{json, Value};

use super::protocol::Filter;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("seccomp action {0} is not supported")]
    Unsupported(String),
    #[error("seccomp profile: {0}")]
    Compile(String),
    #[error("installing the seccomp filter: {0}")]
    Apply(String),
}

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// Per syscall name: `None` matches always, else any of the condition lists.
type Rules = BTreeMap<String, Option<Vec<Vec<Value>>>>;

/// Compiles `profile` into the BPF programs to install, in order. Syscall
/// names this architecture lacks are dropped, as libseccomp does.
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<BpfProgram>, Error> {
    let default = action(profile.default_action(), profile.default_errno_ret(), None)?;
    let mut groups: BTreeMap<String, (Value, Rules)> = BTreeMap::new();
    for rule in profile.syscalls().iter().flatten() {
        let act = action(rule.action(), profile.default_errno_ret(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let conds = rule
            .args()
            .as_ref()
            .map(|a| a.iter().map(condition).collect::<Vec<_>>());
        let entry = groups
            .entry(act.to_string())
            .or_insert_with(|| (act.clone(), Rules::new()));
        for name in rule.names() {
            add_rule(&mut entry.1, name, conds.clone());
        }
    }
    let allow = json!("allow");
    let mut filters = Vec::new();
    // The allow-list goes first so the other actions' data win ties.
    if let Some((_, rules)) = groups.remove(&allow.to_string()) {
        filters.push((default.clone(), allow.clone(), rules));
    } else if default != allow {
        filters.push((default.clone(), allow.clone(), Rules::new()));
    }
    for (_, (act, rules)) in groups {
        filters.push((json!("allow"), act, rules));
    }
    filters
        .into_iter()
        .map(|(mismatch, matched, rules)| build(mismatch, matched, rules))
        .collect()
}

/// Installs `programs` on the calling thread, in order. seccompiler's own
/// `apply_filter` also sets no_new_privs, which Docker leaves off unless
/// asked (setuid tools such as `su` must keep working), so the filter is
/// installed here with the seccomp(2) call itself.
pub fn apply(programs: &[BpfProgram]) -> Result<(), Error> {
    for program in programs.iter().filter(|p| !p.is_empty()) {
        let fprog = libc::sock_fprog {
            len: program.len() as u16,
            // sock_filter is repr(C) with libc's layout.
            filter: program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the kernel copies the program; `fprog` outlives the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &fprog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(Error::Apply(std::io::Error::last_os_error().to_string()));
        }
    }
    Ok(())
}

/// The programs of the spec's profile in a form that can be sent.
pub fn compile_spec(spec: &oci_spec::runtime::Spec) -> Result<Vec<Filter>, Error> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(Vec::new());
    };
    Ok(compile(profile)?
        .into_iter()
        .map(|p| p.into_iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect())
        .collect())
}

/// Back from [`compile_spec`]'s form.
pub fn programs(filters: &[Filter]) -> Vec<BpfProgram> {
    filters
        .iter()
        .map(|f| {
            f.iter()
                .map(|&(code, jt, jf, k)| seccompiler::sock_filter { code, jt, jf, k })
                .collect()
        })
        .collect()
}

fn add_rule(rules: &mut Rules, name: &str, conds: Option<Vec<Value>>) {
    let slot = rules
        .entry(name.to_string())
        .or_insert_with(|| Some(Vec::new()));
    match (slot.as_mut(), conds) {
        (Some(list), Some(c)) if !c.is_empty() => list.push(c),
        _ => *slot = None,
    }
}

fn action(
    act: LinuxSeccompAction,
    default_errno: Option<u32>,
    errno: Option<u32>,
) -> Result<Value, Error> {
    use LinuxSeccompAction as A;
    let errno = errno.or(default_errno).unwrap_or(libc::EPERM as u32);
    Ok(match act {
        A::ScmpActAllow => json!("allow"),
        A::ScmpActErrno => json!({ "errno": errno }),
        A::ScmpActKill | A::ScmpActKillThread => json!("kill_thread"),
        A::ScmpActKillProcess => json!("kill_process"),
        A::ScmpActTrap => json!("trap"),
        A::ScmpActLog => json!("log"),
        A::ScmpActTrace => json!({ "trace": errno }),
        other => return Err(Error::Unsupported(other.to_string())),
    })
}

fn condition(arg: &LinuxSeccompArg) -> Value {
    use LinuxSeccompOperator as O;
    let (op, val) = match arg.op() {
        O::ScmpCmpNe => (json!("ne"), arg.value()),
        O::ScmpCmpLt => (json!("lt"), arg.value()),
        O::ScmpCmpLe => (json!("le"), arg.value()),
        O::ScmpCmpEq => (json!("eq"), arg.value()),
        O::ScmpCmpGe => (json!("ge"), arg.value()),
        O::ScmpCmpGt => (json!("gt"), arg.value()),
        O::ScmpCmpMaskedEq => (
            json!({ "masked_eq": arg.value() }),
            arg.value_two().unwrap_or(0),
        ),
    };
    json!({ "index": arg.index(), "type": "qword", "op": op, "val": val })
}

fn build(mismatch: Value, matched: Value, mut rules: Rules) -> Result<BpfProgram, Error> {
    // Bounded retries: each drops one name the architecture does not know.
    for _ in 0..64 {
        let filter: Vec<Value> = rules
            .iter()
            .flat_map(|(name, conds)| match conds {
                None => vec![json!({ "syscall": name })],
                Some(list) => list
                    .iter()
                    .map(|c| json!({ "syscall": name, "args": c }))
                    .collect(),
            })
            .collect();
        let doc = json!({ "f": { "mismatch_action": mismatch, "match_action": matched, "filter": filter } });
        match seccompiler::compile_from_json(doc.to_string().as_bytes(), ARCH) {
            Ok(mut map) => {
                return map
                    .remove("f")
                    .ok_or_else(|| Error::Compile("no filter produced".into()))
            }
            Err(e) => match unknown_name(&e.to_string()) {
                Some(name) if rules.remove(&name).is_some() => {}
                _ => return Err(Error::Compile(e.to_string())),
            },
        }
    }
    Err(Error::Compile("too many unknown syscall names".into()))
}

/// seccompiler does not export its JSON error type; its message is the
/// only way to learn which name it did not know.
fn unknown_name(message: &str) -> Option<String> {
    let rest = message.split("Invalid syscall name: ").nth(1)?;
    rest.split(" for given arch").next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Capability;

    #[test]
    fn default_profile_compiles_without_dropping_names() {
        let profile = profile::docker_default(&[Capability::Chown, Capability::Setuid]);
        let progs = compile(&profile).unwrap();
        // allow-list + the ENOSYS filter for clone3
        assert_eq!(progs.len(), 2);
        assert!(
            progs[0].len() > 300,
            "allow-list too short: {}",
            progs[0].len()
        );
    }

    #[test]
    fn sys_admin_lifts_the_namespace_rules() {
        let without = profile::docker_default(&[]);
        let with = profile::docker_default(&[Capability::SysAdmin]);
        let names = |p: &LinuxSeccomp| {
            p.syscalls()
                .iter()
                .flatten()
                .flat_map(|s| s.names().clone())
                .collect::<Vec<_>>()
        };
        assert!(!names(&without).contains(&"unshare".to_string()));
        assert!(names(&with).contains(&"unshare".to_string()));
        assert!(!names(&with).contains(&"keyctl".to_string()));
        assert_eq!(compile(&with).unwrap().len(), 1);
    }

    #[test]
    fn unknown_names_are_dropped() {
        let mut profile = profile::docker_default(&[]);
        let mut extra = oci_spec::runtime::LinuxSyscall::default();
        extra.set_names(vec!["no_such_call".into(), "read".into()]);
        extra.set_action(LinuxSeccompAction::ScmpActLog);
        let mut rules = profile.syscalls().clone().unwrap();
        rules.push(extra);
        profile.set_syscalls(Some(rules));
        assert_eq!(compile(&profile).unwrap().len(), 3);
    }

    #[test]
    fn notify_is_refused() {
        let mut profile = LinuxSeccomp::default();
        profile.set_default_action(LinuxSeccompAction::ScmpActNotify);
        assert!(matches!(compile(&profile), Err(Error::Unsupported(_))));
    }
}
