use super::*;
use crate::syscalls::{Device, Real, Syscalls};
use crate::testkit::device_rule as rule;

/// Runs `prog` on one device context with the eBPF semantics of the
/// opcodes `program` emits (64-bit registers, 32-bit ALU ops zero-extend).
fn run(prog: &[Insn], kind: Kind, major: u32, minor: u32, access: u8) -> u64 {
    let ctx = [(u32::from(access) << 16) | kind as u32, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        let imm = i.imm as i64 as u64;
        pc += 1;
        let jump = |taken: bool, pc: &mut usize| {
            if taken {
                *pc = (*pc as i64 + i64::from(i.off)) as usize;
            }
        };
        match i.code {
            LDX_W => {
                assert_eq!(src, usize::from(CTX), "loads come from the context");
                r[dst] = u64::from(ctx[(i.off / 4) as usize]);
            }
            MOV32_X => r[dst] = r[src] & 0xffff_ffff,
            RSH32_K => r[dst] = (r[dst] as u32 >> i.imm) as u64,
            AND32_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
            MOV64_K => r[dst] = imm,
            JNE_K => jump(r[dst] != imm, &mut pc),
            JEQ_K => jump(r[dst] == imm, &mut pc),
            JNE_X => jump(r[dst] != r[src], &mut pc),
            EXIT => return r[0],
            other => panic!("opcode {other:#x} not interpreted"),
        }
    }
}

pub(crate) fn docker_rules(privileged: bool) -> Vec<LinuxDeviceCgroup> {
    let config = crate::spec::Config {
        privileged,
        ..crate::spec::Config::default()
    };
    let spec = config.to_spec("d").unwrap();
    let linux = spec.linux().clone().unwrap();
    linux
        .resources()
        .clone()
        .unwrap()
        .devices()
        .clone()
        .unwrap()
}

/// Every device of a grid that crosses the rules' own numbers, with every
/// access: the program and v1's semantics agree.
fn assert_program_matches(rules: &[LinuxDeviceCgroup]) {
    let reduced = Rules::reduce(rules);
    let prog = program(&reduced);
    let numbers = [0, 1, 2, 3, 5, 7, 8, 9, 10, 136, 200, 254, 4095, 1 << 19];
    for kind in [Kind::Block, Kind::Char] {
        for major in numbers {
            for minor in numbers {
                for access in 1..=ALL_ACCESS {
                    let want = reduced.allows(kind, major, minor, access);
                    let got = run(&prog, kind, major, minor, access);
                    assert_eq!(
                        got,
                        u64::from(want),
                        "{kind:?} {major}:{minor} access {access:#b} under {reduced:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn dockers_list_allows_its_devices_and_mknod_only() {
    let rules = Rules::reduce(&docker_rules(false));
    assert!(!rules.default_allow);
    let rw = READ | WRITE;
    assert!(rules.allows(Kind::Char, 1, 3, rw), "/dev/null");
    assert!(rules.allows(Kind::Char, 136, 7, rw), "a pty");
    assert!(rules.allows(Kind::Char, 1, 1, MKNOD), "mknod of anything");
    assert!(!rules.allows(Kind::Char, 1, 1, READ), "/dev/mem");
    assert!(!rules.allows(Kind::Block, 8, 0, READ), "a disk");
    assert!(!rules.allows(Kind::Block, 8, 0, MKNOD | READ));
    assert_program_matches(&docker_rules(false));
}

#[test]
fn privileged_attaches_nothing() {
    assert!(Rules::reduce(&docker_rules(true)).allows_everything());
}

#[test]
fn allow_by_default_lists_deny_any_excepted_bit() {
    use LinuxDeviceType::{A, B, C};
    let rules = [
        rule(true, A, None, None, "rwm"),
        rule(false, C, Some(1), Some(1), "rw"),
        rule(false, B, Some(8), None, "w"),
    ];
    let reduced = Rules::reduce(&rules);
    assert!(reduced.default_allow);
    assert!(!reduced.allows(Kind::Char, 1, 1, READ));
    assert!(reduced.allows(Kind::Char, 1, 1, MKNOD));
    assert!(!reduced.allows(Kind::Block, 8, 3, READ | WRITE));
    assert!(reduced.allows(Kind::Block, 8, 3, READ));
    assert_program_matches(&rules);
}

#[test]
fn later_rules_merge_and_take_away_as_v1_does() {
    use LinuxDeviceType::{A, B, C};
    let rules = [
        rule(false, A, None, None, "rwm"),
        rule(true, C, Some(1), Some(3), "r"),
        rule(true, C, Some(1), Some(3), "w"),
        rule(true, B, None, None, "rwm"),
        // Takes only from the identical exception, as v1 does: the
        // wildcard above keeps 8:0.
        rule(false, B, Some(8), Some(0), "r"),
        rule(false, B, None, None, "w"),
        rule(true, C, Some(5), None, "m"),
        rule(false, C, Some(5), None, "m"),
    ];
    let reduced = Rules::reduce(&rules);
    assert_eq!(reduced.exceptions.len(), 2, "{reduced:?}");
    assert!(reduced.allows(Kind::Char, 1, 3, READ | WRITE), "merged");
    assert!(reduced.allows(Kind::Block, 8, 0, READ));
    assert!(!reduced.allows(Kind::Block, 8, 0, WRITE));
    assert!(!reduced.allows(Kind::Char, 5, 1, MKNOD), "taken away whole");
    assert_program_matches(&rules);
    // An `a` rule starts over.
    let mut reset = rules.to_vec();
    reset.push(rule(false, A, None, None, "rwm"));
    assert_eq!(Rules::reduce(&reset).exceptions, Vec::new());
    assert_program_matches(&reset);
}

#[test]
fn fifos_are_not_devices_and_empty_access_is_all() {
    use LinuxDeviceType::{A, C, P};
    let rules = [
        rule(false, A, None, None, "rwm"),
        rule(true, P, Some(1), Some(3), "rwm"),
        rule(true, C, Some(1), Some(5), ""),
    ];
    let reduced = Rules::reduce(&rules);
    assert!(!reduced.allows(Kind::Char, 1, 3, READ));
    assert!(reduced.allows(Kind::Char, 1, 5, ALL_ACCESS));
    assert_program_matches(&rules);
}

/// The cgroup2 mount: the whole tree on a v2 host, `unified` beside v1's
/// hierarchies on a hybrid one (where device programs work just the same).
pub(crate) fn cgroup2_mount() -> Option<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|l| {
        let (before, after) = l.split_once(" - ")?;
        (after.split(' ').next() == Some("cgroup2"))
            .then(|| before.split(' ').nth(4).map(Into::into))?
    })
}

#[test]
fn the_kernel_enforces_dockers_list() {
    if !crate::testkit::privileged() {
        return;
    }
    let mount = cgroup2_mount().expect("no cgroup2 mount");
    let dir = mount.join(format!("kiln-device-test-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // Made outside the cgroup: /dev/kmsg's numbers, which Docker's list
    // leaves out.
    let mem = tmp.path().join("kmsg");
    let kmsg = Device {
        major: 1,
        minor: 11,
        mode: 0o600,
    };
    Real.mknod(&mem, kmsg).unwrap();
    let script = format!(
        "echo $$ > {procs}; \
         ( : < /dev/null ) && echo null-ok; \
         ( : < {mem} ) 2>/dev/null || echo kmsg-denied; \
         mknod {dir}/made c 1 11 && echo mknod-ok; \
         ( : < {dir}/made ) 2>/dev/null || echo made-denied",
        procs = dir.join("cgroup.procs").display(),
        mem = mem.display(),
        dir = tmp.path().display(),
    );
    let before = std::process::Command::new("sh")
        .args(["-c", &format!(": < {}", mem.display())])
        .status()
        .unwrap();
    assert!(before.success(), "outside the cgroup the node opens");
    attach(&dir, &docker_rules(false)).unwrap();
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir(&dir);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "null-ok\nkmsg-denied\nmknod-ok\nmade-denied\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
