//! An OCI seccomp profile as one BPF program. The syscall number is found
//! by binary search over ranges of numbers that share a verdict, so
//! Docker's profile compiles to some 170 instructions (seccompiler's linear
//! chain was 1542), which the kernel checks and JIT-compiles at install in
//! a fraction of the time: that install is on every container's start. (A
//! call's own cost matters less: the kernel caches the calls a filter
//! always allows and skips the filter for them.)
//!
//! Semantics: of the rules whose conditions all hold for a call, the most
//! restrictive action wins, as when the kernel runs several filters; with
//! none, the default action. A rule whose action is the default changes
//! nothing and is skipped; names this architecture lacks are dropped, as
//! libseccomp does. Calls from another architecture (i386's `int 0x80`)
//! kill the process.

use std::collections::BTreeMap;
use std::str::FromStr;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator};

use super::bpf::{Builder, Insn, Label, JEQ, JGE, JGT};
use super::Error;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

/// `struct seccomp_data`: nr, arch, then the six 64-bit arguments.
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARGS: u32 = 16;

/// One argument test, the 64-bit value split into its two 32-bit halves.
#[derive(Clone, Copy, Debug)]
struct Cond {
    index: u32,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

#[derive(Clone, Debug)]
struct Rule {
    conds: Vec<Cond>,
    action: u32,
}

/// What a run of syscall numbers gets.
#[derive(Clone, Debug)]
enum Verdict {
    Return(u32),
    /// Rules to try in order; the first that holds decides.
    Check(Vec<Rule>),
}

/// Compiles `profile` for this architecture.
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<Insn>, Error> {
    let errno = profile.default_errno_ret();
    let default = action(profile.default_action(), errno, None)?;
    let table = by_number(profile, default)?;
    let ranges = ranges(&table, default);
    let mut b = Builder::default();
    let kill = b.ret(RET_KILL_PROCESS);
    tree(&mut b, &ranges, default);
    b.load(NR);
    let body = b.top();
    b.branch(JEQ, AUDIT_ARCH, body, kill);
    b.load(ARCH);
    Ok(b.finish())
}

/// Each syscall number the profile names, with its rules, most
/// restrictive first.
fn by_number(profile: &LinuxSeccomp, default: u32) -> Result<BTreeMap<u32, Vec<Rule>>, Error> {
    let mut table: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
    for rule in profile.syscalls().iter().flatten() {
        let act = action(rule.action(), profile.default_errno_ret(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let conds = rule
            .args()
            .iter()
            .flatten()
            .map(cond)
            .collect::<Result<Vec<_>, _>>()?;
        for name in rule.names() {
            let Ok(nr) = syscalls::Sysno::from_str(name) else {
                continue;
            };
            table.entry(nr.id() as u32).or_default().push(Rule {
                conds: conds.clone(),
                action: act,
            });
        }
    }
    for rules in table.values_mut() {
        rules.sort_by_key(|r| precedence(r.action));
    }
    Ok(table)
}

/// The kernel's order of actions: a lower value is more restrictive.
fn precedence(action: u32) -> i32 {
    (action & 0xffff_0000) as i32
}

/// The number line cut where the verdict changes: `(first number, verdict)`,
/// starting at 0, each range running to the next one's start.
fn ranges(table: &BTreeMap<u32, Vec<Rule>>, default: u32) -> Vec<(u32, Verdict)> {
    let mut out: Vec<(u32, Verdict)> = vec![(0, Verdict::Return(default))];
    let mut next = 0u32;
    for (&nr, rules) in table {
        if nr > next {
            push(&mut out, next, Verdict::Return(default));
        }
        let verdict = match rules.iter().position(|r| r.conds.is_empty()) {
            Some(0) => Verdict::Return(rules[0].action),
            Some(i) => Verdict::Check(rules[..=i].to_vec()),
            None => Verdict::Check(rules.clone()),
        };
        push(&mut out, nr, verdict);
        next = nr + 1;
    }
    push(&mut out, next, Verdict::Return(default));
    out
}

/// Appends a range, merged into the last one when both return the same.
fn push(out: &mut Vec<(u32, Verdict)>, start: u32, verdict: Verdict) {
    if let (Some((_, Verdict::Return(last))), Verdict::Return(now)) = (out.last(), &verdict) {
        if last == now {
            return;
        }
    }
    if out.last().is_some_and(|(s, _)| *s == start) {
        out.pop();
    }
    out.push((start, verdict));
}

/// Binary search over `ranges` (A holds the syscall number); returns the
/// label of its first instruction.
fn tree(b: &mut Builder, ranges: &[(u32, Verdict)], default: u32) -> Label {
    if let [(_, verdict)] = ranges {
        return match verdict {
            Verdict::Return(k) => b.ret(*k),
            Verdict::Check(rules) => check(b, rules, default),
        };
    }
    let mid = ranges.len() / 2;
    let upper = tree(b, &ranges[mid..], default);
    let lower = tree(b, &ranges[..mid], default);
    b.branch(JGE, ranges[mid].0, upper, lower)
}

/// Tries `rules` in order; the first whose conditions all hold returns
/// its action, else the default.
fn check(b: &mut Builder, rules: &[Rule], default: u32) -> Label {
    let mut next = b.ret(default);
    for rule in rules.iter().rev() {
        let mut pass = b.ret(rule.action);
        for c in rule.conds.iter().rev() {
            pass = test(b, c, pass, next);
        }
        next = pass;
    }
    next
}

/// One 64-bit argument test as 32-bit steps: the high halves decide unless
/// they are equal, then the low halves.
fn test(b: &mut Builder, c: &Cond, pass: Label, fail: Label) -> Label {
    use LinuxSeccompOperator as O;
    let lo = ARGS + 8 * c.index;
    let hi = lo + 4;
    let half = |v: u64| ((v >> 32) as u32, v as u32);
    match c.op {
        O::ScmpCmpEq => equal(b, lo, hi, half(c.value), None, pass, fail),
        O::ScmpCmpNe => equal(b, lo, hi, half(c.value), None, fail, pass),
        O::ScmpCmpMaskedEq => equal(
            b,
            lo,
            hi,
            half(c.value_two),
            Some(half(c.value)),
            pass,
            fail,
        ),
        O::ScmpCmpGt => above(b, lo, hi, half(c.value), JGT, pass, fail),
        O::ScmpCmpGe => above(b, lo, hi, half(c.value), JGE, pass, fail),
        O::ScmpCmpLe => above(b, lo, hi, half(c.value), JGT, fail, pass),
        O::ScmpCmpLt => above(b, lo, hi, half(c.value), JGE, fail, pass),
    }
}

/// `(arg & mask) == value`, the mask defaulting to all ones.
fn equal(
    b: &mut Builder,
    lo: u32,
    hi: u32,
    (v_hi, v_lo): (u32, u32),
    mask: Option<(u32, u32)>,
    yes: Label,
    no: Label,
) -> Label {
    b.branch(JEQ, v_lo, yes, no);
    if let Some((_, m_lo)) = mask {
        b.and(m_lo);
    }
    b.load(lo);
    let low = b.top();
    b.branch(JEQ, v_hi, low, no);
    if let Some((m_hi, _)) = mask {
        b.and(m_hi);
    }
    b.load(hi)
}

/// `arg > value` (`op` JGT) or `arg >= value` (JGE).
fn above(
    b: &mut Builder,
    lo: u32,
    hi: u32,
    (v_hi, v_lo): (u32, u32),
    op: u16,
    yes: Label,
    no: Label,
) -> Label {
    b.branch(op, v_lo, yes, no);
    let low = b.load(lo);
    let tie = b.branch(JEQ, v_hi, low, no);
    b.branch(JGT, v_hi, yes, tie);
    b.load(hi)
}

fn cond(arg: &LinuxSeccompArg) -> Result<Cond, Error> {
    if arg.index() > 5 {
        return Err(Error::Compile(format!(
            "argument index {} (a syscall has six, 0-5)",
            arg.index()
        )));
    }
    Ok(Cond {
        index: arg.index() as u32,
        op: arg.op(),
        value: arg.value(),
        value_two: arg.value_two().unwrap_or(0),
    })
}

/// The filter's return value for an OCI action.
pub fn action(
    act: LinuxSeccompAction,
    default_errno: Option<u32>,
    errno: Option<u32>,
) -> Result<u32, Error> {
    use LinuxSeccompAction as A;
    let data = errno.or(default_errno).unwrap_or(libc::EPERM as u32) & 0xffff;
    Ok(match act {
        A::ScmpActAllow => RET_ALLOW,
        A::ScmpActErrno => RET_ERRNO | data,
        A::ScmpActKill | A::ScmpActKillThread => RET_KILL_THREAD,
        A::ScmpActKillProcess => RET_KILL_PROCESS,
        A::ScmpActTrap => RET_TRAP,
        A::ScmpActLog => RET_LOG,
        A::ScmpActTrace => RET_TRACE | data,
        other => return Err(Error::Unsupported(other.to_string())),
    })
}
