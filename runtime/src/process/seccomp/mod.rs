//! Seccomp: an OCI `LinuxSeccomp` profile compiled to one BPF program
//! ([`compile`]) and installed with seccomp(2).

mod bpf;
mod compile;
pub mod profile;

pub use bpf::Insn;
pub use compile::compile;

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

/// Installs `programs` on the calling thread, in order. no_new_privs is
/// left as it is: Docker sets it only when asked, so that setuid tools
/// such as `su` keep working.
pub fn apply(programs: &[Vec<Insn>]) -> Result<(), Error> {
    for program in programs.iter().filter(|p| !p.is_empty()) {
        let len = u16::try_from(program.len())
            .map_err(|_| Error::Apply(format!("{} instructions is too long", program.len())))?;
        let fprog = libc::sock_fprog {
            len,
            // Insn is repr(C) with sock_filter's layout.
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

/// The program of the spec's profile in a form that can be sent.
pub fn compile_spec(spec: &oci_spec::runtime::Spec) -> Result<Vec<Filter>, Error> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(Vec::new());
    };
    let program = compile(profile)?;
    Ok(vec![program
        .iter()
        .map(|i| (i.code, i.jt, i.jf, i.k))
        .collect()])
}

/// Back from [`compile_spec`]'s form.
pub fn programs(filters: &[Filter]) -> Vec<Vec<Insn>> {
    filters
        .iter()
        .map(|f| {
            f.iter()
                .map(|&(code, jt, jf, k)| Insn { code, jt, jf, k })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use oci_spec::runtime::{
        Capability, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompArg,
        LinuxSeccompOperator as O, LinuxSyscall,
    };

    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;

    fn nr(name: &str) -> u32 {
        syscalls::Sysno::from_str(name).unwrap().id() as u32
    }

    /// A `struct seccomp_data` for this architecture.
    fn data(arch: u32, nr: u32, args: [u64; 6]) -> [u8; 64] {
        let mut d = [0u8; 64];
        d[..4].copy_from_slice(&nr.to_ne_bytes());
        d[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, a) in args.iter().enumerate() {
            d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        d
    }

    fn native_arch() -> u32 {
        if cfg!(target_arch = "x86_64") {
            0xc000_003e
        } else {
            0xc000_00b7
        }
    }

    fn verdict(program: &[Insn], nr: u32, args: [u64; 6]) -> u32 {
        bpf::run(program, &data(native_arch(), nr, args))
    }

    /// What the profile says, read straight off its rules.
    fn expected(p: &LinuxSeccomp, call: u32, args: [u64; 6]) -> u32 {
        let errno = p.default_errno_ret();
        let default = compile::action(p.default_action(), errno, None).unwrap();
        let holds = |a: &LinuxSeccompArg| {
            let x = args[a.index()];
            match a.op() {
                O::ScmpCmpEq => x == a.value(),
                O::ScmpCmpNe => x != a.value(),
                O::ScmpCmpLt => x < a.value(),
                O::ScmpCmpLe => x <= a.value(),
                O::ScmpCmpGt => x > a.value(),
                O::ScmpCmpGe => x >= a.value(),
                O::ScmpCmpMaskedEq => x & a.value() == a.value_two().unwrap_or(0),
            }
        };
        p.syscalls()
            .iter()
            .flatten()
            .filter(|r| {
                r.names()
                    .iter()
                    .any(|n| syscalls::Sysno::from_str(n).is_ok_and(|s| s.id() as u32 == call))
            })
            .filter(|r| r.args().iter().flatten().all(holds))
            .map(|r| compile::action(r.action(), errno, r.errno_ret()).unwrap())
            .filter(|&a| a != default)
            .min_by_key(|&a| (a & 0xffff_0000) as i32)
            .unwrap_or(default)
    }

    const PROBES: [u64; 9] = [0, 1, 2, 0x8, 0x11, 0x2_0000, 40, 0xffff_ffff, 0x1_0000_0008];

    #[test]
    fn docker_default_does_what_its_rules_say_for_every_call() {
        for caps in [vec![], vec![Capability::SysAdmin, Capability::SysPtrace]] {
            let profile = profile::docker_default(&caps);
            let program = compile(&profile).unwrap();
            let calls = (0..=500).chain([0x4000_0000, 0x4000_0001, 100_000, u32::MAX]);
            for call in calls {
                for a0 in PROBES {
                    let args = [a0, 0, 0, 0, 0, 0];
                    assert_eq!(
                        verdict(&program, call, args),
                        expected(&profile, call, args),
                        "syscall {call}, arg0 {a0:#x}, caps {caps:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn docker_default_answers_as_docker_does() {
        let p = compile(&profile::docker_default(&[])).unwrap();
        assert!(p.len() < 300, "{} instructions", p.len());
        assert_eq!(verdict(&p, nr("read"), [0; 6]), ALLOW);
        assert_eq!(verdict(&p, nr("keyctl"), [0; 6]), EPERM);
        assert_eq!(verdict(&p, nr("unshare"), [0; 6]), EPERM);
        assert_eq!(
            verdict(&p, nr("clone3"), [0; 6]),
            0x0005_0000 | libc::ENOSYS as u32
        );
        assert_eq!(verdict(&p, nr("clone"), [0x11, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(verdict(&p, nr("clone"), [0x2_0011, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(verdict(&p, nr("personality"), [0x8, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(verdict(&p, nr("personality"), [0x1, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(verdict(&p, nr("socket"), [2, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(verdict(&p, nr("socket"), [40, 0, 0, 0, 0, 0]), EPERM);
        let admin = compile(&profile::docker_default(&[Capability::SysAdmin])).unwrap();
        assert_eq!(verdict(&admin, nr("unshare"), [0; 6]), ALLOW);
        assert_eq!(
            verdict(&admin, nr("clone"), [0x2_0011, 0, 0, 0, 0, 0]),
            ALLOW
        );
    }

    #[test]
    fn another_architecture_is_killed() {
        let p = compile(&profile::docker_default(&[])).unwrap();
        let i386 = 0x4000_0003;
        assert_eq!(bpf::run(&p, &data(i386, nr("read"), [0; 6])), 0x8000_0000);
    }

    fn rule(name: &str, action: A, args: Vec<LinuxSeccompArg>) -> LinuxSyscall {
        let mut s = LinuxSyscall::default();
        s.set_names(vec![name.to_string()]);
        s.set_action(action);
        if !args.is_empty() {
            s.set_args(Some(args));
        }
        s
    }

    fn arg(index: usize, op: O, value: u64, value_two: u64) -> LinuxSeccompArg {
        oci_spec::runtime::LinuxSeccompArgBuilder::default()
            .index(index)
            .op(op)
            .value(value)
            .value_two(value_two)
            .build()
            .unwrap()
    }

    #[test]
    fn every_operator_compares_all_64_bits() {
        let v = 0x1_0000_0005u64;
        let ops = [
            O::ScmpCmpEq,
            O::ScmpCmpNe,
            O::ScmpCmpLt,
            O::ScmpCmpLe,
            O::ScmpCmpGt,
            O::ScmpCmpGe,
            O::ScmpCmpMaskedEq,
        ];
        let calls = ["read", "write", "open", "close", "stat", "fstat", "lstat"];
        let mut profile = LinuxSeccomp::default();
        profile.set_default_action(A::ScmpActErrno);
        let rules = calls
            .iter()
            .zip(ops)
            .enumerate()
            .map(|(i, (name, op))| rule(name, A::ScmpActAllow, vec![arg(i % 6, op, v, 0x5)]))
            .collect();
        profile.set_syscalls(Some(rules));
        let program = compile(&profile).unwrap();
        let values = [0, 4, 5, 6, v - 1, v, v + 1, 0x2_0000_0000, 0x5, u64::MAX];
        for name in calls {
            for x in values {
                let args = [x; 6];
                assert_eq!(
                    verdict(&program, nr(name), args),
                    expected(&profile, nr(name), args),
                    "{name} with {x:#x}"
                );
            }
        }
    }

    #[test]
    fn the_most_restrictive_matching_rule_wins() {
        let mut profile = LinuxSeccomp::default();
        profile.set_default_action(A::ScmpActAllow);
        let mut trap = rule("write", A::ScmpActTrap, vec![arg(0, O::ScmpCmpEq, 2, 0)]);
        trap.set_errno_ret(None);
        profile.set_syscalls(Some(vec![
            rule("write", A::ScmpActLog, vec![]),
            trap,
            rule("write", A::ScmpActErrno, vec![arg(0, O::ScmpCmpGe, 1, 0)]),
        ]));
        let p = compile(&profile).unwrap();
        assert_eq!(verdict(&p, nr("write"), [0; 6]), 0x7ffc_0000);
        assert_eq!(verdict(&p, nr("write"), [1, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(verdict(&p, nr("write"), [2, 0, 0, 0, 0, 0]), 0x0003_0000);
        assert_eq!(verdict(&p, nr("read"), [2, 0, 0, 0, 0, 0]), ALLOW);
    }

    #[test]
    fn unknown_names_are_dropped() {
        let mut profile = profile::docker_default(&[]);
        let mut rules = profile.syscalls().clone().unwrap();
        rules.push(rule("no_such_call", A::ScmpActLog, vec![]));
        profile.set_syscalls(Some(rules));
        let p = compile(&profile).unwrap();
        assert_eq!(verdict(&p, nr("read"), [0; 6]), ALLOW);
    }

    #[test]
    fn notify_and_a_seventh_argument_are_refused() {
        let mut profile = LinuxSeccomp::default();
        profile.set_default_action(A::ScmpActNotify);
        assert!(matches!(compile(&profile), Err(Error::Unsupported(_))));
        profile.set_default_action(A::ScmpActErrno);
        let bad = rule("read", A::ScmpActAllow, vec![arg(6, O::ScmpCmpEq, 0, 0)]);
        profile.set_syscalls(Some(vec![bad]));
        let err = compile(&profile).unwrap_err().to_string();
        assert!(err.contains("argument index 6"), "{err}");
    }
}
