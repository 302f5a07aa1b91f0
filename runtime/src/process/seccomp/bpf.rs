//! Classic BPF as seccomp runs it: the handful of instructions a filter
//! needs, and a builder that writes a program from its end backwards. That
//! order means every jump target is already placed when the jump is
//! written, so offsets are exact in one pass. A conditional jump reaches at
//! most 255 instructions ahead; a farther target is reached through an
//! unconditional `ja`, which has a 32-bit offset.

/// One instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// `A = *(u32 *)(seccomp_data + k)`
pub const LD_ABS: u16 = 0x20;
/// `A &= k`
pub const AND: u16 = 0x54;
/// `pc += k`
pub const JA: u16 = 0x05;
pub const JEQ: u16 = 0x15;
pub const JGT: u16 = 0x25;
pub const JGE: u16 = 0x35;
/// `return k`
pub const RET: u16 = 0x06;

/// Where an instruction sits, counted from the program's end (the builder
/// only ever adds in front).
pub type Label = usize;

#[derive(Default)]
pub struct Builder {
    reversed: Vec<Insn>,
}

impl Builder {
    /// The instruction written last, which is the first in program order.
    pub fn top(&self) -> Label {
        self.reversed.len().saturating_sub(1)
    }

    pub fn ret(&mut self, k: u32) -> Label {
        self.push(RET, 0, 0, k)
    }

    pub fn load(&mut self, offset: u32) -> Label {
        self.push(LD_ABS, 0, 0, offset)
    }

    pub fn and(&mut self, mask: u32) -> Label {
        self.push(AND, 0, 0, mask)
    }

    /// `if A <op> k goto yes else goto no`; `op` is [`JEQ`], [`JGT`] or
    /// [`JGE`].
    pub fn branch(&mut self, op: u16, k: u32, yes: Label, no: Label) -> Label {
        let no = self.reachable(no);
        let yes = self.reachable(yes);
        let (jt, jf) = (self.offset(yes), self.offset(no));
        // `reachable` made both offsets fit, possibly through a trampoline.
        self.push(op, jt as u8, jf as u8, k)
    }

    pub fn jump(&mut self, to: Label) -> Label {
        let k = self.offset(to) as u32;
        self.push(JA, 0, 0, k)
    }

    /// The program in execution order.
    pub fn finish(mut self) -> Vec<Insn> {
        self.reversed.reverse();
        self.reversed
    }

    /// `to` itself if a conditional jump written next can reach it, else a
    /// `ja` to it written now.
    fn reachable(&mut self, to: Label) -> Label {
        if self.offset(to) <= u8::MAX as usize {
            to
        } else {
            self.jump(to)
        }
    }

    /// The jump offset from the next instruction to be written to `to`.
    fn offset(&self, to: Label) -> usize {
        self.reversed.len() - to - 1
    }

    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.reversed.push(Insn { code, jt, jf, k });
        self.top()
    }
}

/// Runs `program` over a `struct seccomp_data`, as the kernel would. For
/// tests: it knows only the instructions above.
#[cfg(test)]
pub fn run(program: &[Insn], data: &[u8; 64]) -> u32 {
    let mut a: u32 = 0;
    let mut pc = 0;
    loop {
        let i = program[pc];
        pc += 1;
        match i.code {
            LD_ABS => {
                let at = i.k as usize;
                a = u32::from_ne_bytes(data[at..at + 4].try_into().unwrap());
            }
            AND => a &= i.k,
            JA => pc += i.k as usize,
            JEQ | JGT | JGE => {
                let taken = match i.code {
                    JEQ => a == i.k,
                    JGT => a > i.k,
                    _ => a >= i.k,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            RET => return i.k,
            other => panic!("instruction {other:#x} not known to the test interpreter"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_with(nr: u32) -> [u8; 64] {
        let mut d = [0u8; 64];
        d[..4].copy_from_slice(&nr.to_ne_bytes());
        d
    }

    #[test]
    fn offsets_count_the_instructions_between() {
        let mut b = Builder::default();
        let no = b.ret(2);
        let yes = b.ret(1);
        b.branch(JEQ, 7, yes, no);
        b.load(0);
        let p = b.finish();
        assert_eq!(
            p[1],
            Insn {
                code: JEQ,
                jt: 0,
                jf: 1,
                k: 7
            }
        );
        assert_eq!(run(&p, &data_with(7)), 1);
        assert_eq!(run(&p, &data_with(8)), 2);
    }

    #[test]
    fn far_targets_are_reached_through_ja() {
        let mut b = Builder::default();
        let far = b.ret(99);
        for _ in 0..300 {
            b.ret(0);
        }
        let near = b.ret(1);
        let second = b.branch(JGE, 10, far, near);
        b.branch(JGE, 5, second, far);
        b.load(0);
        let p = b.finish();
        assert!(p.iter().any(|i| i.code == JA));
        assert_eq!(run(&p, &data_with(3)), 99);
        assert_eq!(run(&p, &data_with(7)), 1);
        assert_eq!(run(&p, &data_with(12)), 99);
    }
}
