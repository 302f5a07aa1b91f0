//! The device allow-list on cgroup v2, which has no devices controller: an
//! eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE`, attached to the
//! container's cgroup, that the kernel asks on every open and mknod of a
//! device node (as runc and crun do).
//!
//! The OCI rules keep v1's meaning, so they are first reduced as the v1
//! controller reduces them: an `a` rule resets to allow- or deny-by-default
//! and clears the exceptions; any other rule adds an exception against the
//! default or takes access away from one. The program then tests the
//! exceptions left.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// Access bits as the kernel passes them (`BPF_DEVCG_ACC_*`).
const MKNOD: u8 = 1;
const READ: u8 = 2;
const WRITE: u8 = 4;
const ALL_ACCESS: u8 = MKNOD | READ | WRITE;

/// Device kinds as the kernel passes them (`BPF_DEVCG_DEV_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Block = 1,
    Char = 2,
}

/// One exception to the default: a device or a range of them (`None` is
/// `*`) and the access bits it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

impl Exception {
    fn same_device(&self, other: &Exception) -> bool {
        (self.kind, self.major, self.minor) == (other.kind, other.major, other.minor)
    }

    fn covers(&self, kind: Kind, major: u32, minor: u32) -> bool {
        self.kind == kind
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
    }
}

/// What the v1 controller would hold after the same rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub default_allow: bool,
    pub exceptions: Vec<Exception>,
}

impl Rules {
    /// Applies the OCI rules in order, from v1's start (allow everything).
    pub fn reduce(rules: &[LinuxDeviceCgroup]) -> Rules {
        let mut state = Rules {
            default_allow: true,
            exceptions: Vec::new(),
        };
        for rule in rules {
            state.apply(rule);
        }
        state
    }

    fn apply(&mut self, rule: &LinuxDeviceCgroup) {
        let kind = match rule.typ().unwrap_or_default() {
            LinuxDeviceType::A => {
                self.default_allow = rule.allow();
                self.exceptions.clear();
                return;
            }
            LinuxDeviceType::B => Kind::Block,
            LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
            // FIFOs are not devices to the controller.
            LinuxDeviceType::P => return,
        };
        let ex = Exception {
            kind,
            major: rule.major().and_then(|m| u32::try_from(m).ok()),
            minor: rule.minor().and_then(|m| u32::try_from(m).ok()),
            access: access_bits(rule.access().as_deref()),
        };
        if rule.allow() == self.default_allow {
            self.take_away(&ex);
        } else {
            self.add(ex);
        }
    }

    /// As the kernel's `dev_exception_add`: the same device's bits merge.
    fn add(&mut self, ex: Exception) {
        match self.exceptions.iter_mut().find(|e| e.same_device(&ex)) {
            Some(e) => e.access |= ex.access,
            None => self.exceptions.push(ex),
        }
    }

    /// As the kernel's `dev_exception_rm`: only the same device, and only
    /// the rule's bits.
    fn take_away(&mut self, ex: &Exception) {
        for e in self.exceptions.iter_mut().filter(|e| e.same_device(ex)) {
            e.access &= !ex.access;
        }
        self.exceptions.retain(|e| e.access != 0);
    }

    /// Whether access `access` to the device is allowed: v1's check
    /// (`match_exception` for a deny-by-default list, the partial match for
    /// an allow-by-default one). The program must answer the same.
    pub fn allows(&self, kind: Kind, major: u32, minor: u32, access: u8) -> bool {
        let mut applying = self
            .exceptions
            .iter()
            .filter(|e| e.covers(kind, major, minor));
        if self.default_allow {
            !applying.any(|e| e.access & access != 0)
        } else {
            applying.any(|e| access & !e.access == 0)
        }
    }

    fn allows_everything(&self) -> bool {
        self.default_allow && self.exceptions.is_empty()
    }
}

fn access_bits(access: Option<&str>) -> u8 {
    let Some(text) = access.filter(|a| !a.is_empty()) else {
        return ALL_ACCESS;
    };
    text.chars().fold(0, |bits, c| match c {
        'm' => bits | MKNOD,
        'r' => bits | READ,
        'w' => bits | WRITE,
        _ => bits,
    })
}

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    /// dst in the low four bits, src in the high four.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes used (class | op | source).
pub(crate) const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
pub(crate) const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
pub(crate) const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
pub(crate) const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(crate) const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
pub(crate) const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
pub(crate) const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
pub(crate) const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub(crate) const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

// Registers: r1 the context (then scratch), r2 kind, r3 access, r4 major,
// r5 minor, r0 the verdict (1 allows).
const CTX: u8 = 1;
const SCRATCH: u8 = 1;
const KIND: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

/// The program for `rules`: one block per exception, each jumping to the
/// next when the device or the access does not match, and a default.
pub fn program(rules: &Rules) -> Vec<Insn> {
    let mut prog = vec![
        // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
        insn(LDX_W, KIND, CTX, 0, 0),
        insn(MOV32_X, ACCESS, KIND, 0, 0),
        insn(RSH32_K, ACCESS, 0, 0, 16),
        insn(AND32_K, KIND, 0, 0, 0xffff),
        insn(LDX_W, MAJOR, CTX, 4, 0),
        insn(LDX_W, MINOR, CTX, 8, 0),
    ];
    let verdict = i32::from(!rules.default_allow);
    for ex in &rules.exceptions {
        prog.extend(block(ex, rules.default_allow, verdict));
    }
    prog.push(insn(MOV64_K, 0, 0, 0, i32::from(rules.default_allow)));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

/// Tests for one exception, then its verdict. Each test skips to the end
/// of the block, whose length is known once the tests are.
fn block(ex: &Exception, default_allow: bool, verdict: i32) -> Vec<Insn> {
    let mut tests: Vec<Insn> = vec![insn(JNE_K, KIND, 0, 0, ex.kind as i32)];
    if let Some(major) = ex.major {
        tests.push(insn(JNE_K, MAJOR, 0, 0, major as i32));
    }
    if let Some(minor) = ex.minor {
        tests.push(insn(JNE_K, MINOR, 0, 0, minor as i32));
    }
    let access_test = if default_allow {
        // Denied when any requested bit is excepted.
        Some(insn(JEQ_K, SCRATCH, 0, 0, 0))
    } else if ex.access != ALL_ACCESS {
        // Allowed only when every requested bit is.
        Some(insn(JNE_X, SCRATCH, ACCESS, 0, 0))
    } else {
        None
    };
    if let Some(jump) = access_test {
        tests.push(insn(MOV32_X, SCRATCH, ACCESS, 0, 0));
        tests.push(insn(AND32_K, SCRATCH, 0, 0, i32::from(ex.access)));
        tests.push(jump);
    }
    let end = tests.len() + 2;
    for (at, t) in tests.iter_mut().enumerate() {
        if matches!(t.code, JNE_K | JNE_X | JEQ_K) {
            t.off = (end - at - 1) as i16;
        }
    }
    tests.push(insn(MOV64_K, 0, 0, 0, verdict));
    tests.push(insn(EXIT, 0, 0, 0, 0));
    tests
}

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Programs of nested cgroups (a runtime inside the container) run too.
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// Loads the program for `rules` and attaches it to the cgroup directory
/// `dir`. Nothing is attached when the rules allow everything.
pub fn attach(dir: &Path, rules: &[LinuxDeviceCgroup]) -> std::io::Result<()> {
    let reduced = Rules::reduce(rules);
    if reduced.allows_everything() {
        return Ok(());
    }
    let prog = load(&program(&reduced))?;
    let cgroup = std::fs::File::open(dir)?;
    let attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    // The attachment holds the program; both descriptors may close.
    bpf(BPF_PROG_ATTACH, &attr).map(drop)
}

fn load(prog: &[Insn]) -> std::io::Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"kiln_device");
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..ProgLoadAttr::default()
    };
    let fd = bpf(BPF_PROG_LOAD, &attr)?;
    // SAFETY: BPF_PROG_LOAD returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bpf<T>(cmd: libc::c_int, attr: &T) -> std::io::Result<libc::c_int> {
    // SAFETY: `attr` is a repr(C) prefix of `union bpf_attr` for `cmd`,
    // valid for the size passed; the kernel zero-fills the rest.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r as libc::c_int)
    }
}

#[cfg(test)]
#[path = "device_filter_tests.rs"]
pub(crate) mod tests;
