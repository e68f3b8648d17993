//! The seccomp BPF program, built as data by a pure function.
//!
//! It sends the supervisor `socket(AF_INET|AF_INET6,
//! SOCK_STREAM[|SOCK_NONBLOCK][|SOCK_CLOEXEC], 0|IPPROTO_TCP)` of the
//! native architecture, and, only when the rules can make a connection or
//! a listener plain TCP ([`Traps`]), `connect()` with an inet address
//! length (16: `sockaddr_in`, 28: `sockaddr_in6`; Unix sockets' lengths
//! differ, so they never stop) and every `listen()` (rare; the supervisor
//! looks at the socket itself), and, when asked ([`Traps::options`]),
//! `setsockopt()`/`getsockopt()` of exactly the (level, name) pairs MPTCP
//! rejects (the contract's `REJECTED`; reads of `READ_BY_MPTCP` excepted),
//! so an ordinary option never stops. Every other call (UDP, UNIX, raw and MPTCP
//! sockets, socket calls with unknown type bits, every other system call,
//! x32 and 32-bit compat calls) is allowed at once in the kernel, costing a
//! few BPF instructions.
//!
//! ```text
//!      ld  [arch]
//!      jeq #AUDIT_ARCH, 0, allow
//!      ld  [nr]
//!      jge #X32_BIT, allow, 0        (x86_64 only: x32 calls are not ours)
//!      jeq #NR_socket, socket, 0     (without traps: jeq #NR_socket, 0, allow)
//!      jeq #NR_connect, connect, 0   (Traps::connect)
//!      jeq #NR_listen, notify, 0     (Traps::listen)
//!      jeq #NR_setsockopt, set, 0    (Traps::options)
//!      jeq #NR_getsockopt, get, allow
//! socket: ld [args[0]]               (low 32 bits: the kernel takes an int)
//!      jeq #AF_INET, type, 0
//!      jeq #AF_INET6, 0, allow
//! type: ld [args[1]]
//!      and #~(SOCK_NONBLOCK|SOCK_CLOEXEC)
//!      jeq #SOCK_STREAM, 0, allow
//!      ld  [args[2]]
//!      jeq #0, notify, 0
//!      jeq #IPPROTO_TCP, notify, allow
//! connect: ld [args[2]]              (Traps::connect: the address length)
//!      jeq #16, notify, 0
//!      jeq #28, notify, allow
//! set: ld [args[1]]                 (one block per level of REJECTED)
//!      jeq #SOL_TCP, 0, +k+1
//!      ld  [args[2]]
//!      jeq #TCP_SYNCNT, notify, 0    (one per name; the last: 0, allow)
//!      ...
//! get: (the same, for the names MPTCP cannot read)
//! notify: ret #SECCOMP_RET_USER_NOTIF
//! allow:  ret #SECCOMP_RET_ALLOW
//! ```
//!
//! `run --no-io-uring` puts [`io_uring_refusal`] before it: the native
//! `io_uring_setup` fails with ENOSYS, so a program that would create
//! sockets with `IORING_OP_SOCKET` (which no filter sees) falls back to
//! `socket()`. [`program`] is the filter as installed.

use mptcpize_contract::swap_options::{READ_BY_MPTCP, REJECTED, SockOpt};

use super::ffi::{
    self, AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, NR_CONNECT_AARCH64, NR_CONNECT_X86_64,
    NR_GETSOCKOPT_AARCH64, NR_GETSOCKOPT_X86_64, NR_LISTEN_AARCH64, NR_LISTEN_X86_64,
    NR_SETSOCKOPT_AARCH64, NR_SETSOCKOPT_X86_64, NR_SOCKET_AARCH64, NR_SOCKET_X86_64, RET_ALLOW,
    RET_USER_NOTIF, X32_SYSCALL_BIT, sock_filter,
};

/// What the filter needs to know about an architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arch {
    /// `AUDIT_ARCH_*` value of `seccomp_data.arch`.
    pub audit_arch: u32,
    /// `socket(2)`'s system call number.
    pub nr_socket: u32,
    /// `connect(2)`'s and `listen(2)`'s.
    pub nr_connect: u32,
    pub nr_listen: u32,
    /// `setsockopt(2)`'s and `getsockopt(2)`'s.
    pub nr_setsockopt: u32,
    pub nr_getsockopt: u32,
    /// Numbers with `__X32_SYSCALL_BIT` belong to the x32 ABI (x86_64).
    pub has_x32: bool,
}

pub const X86_64: Arch = Arch {
    audit_arch: AUDIT_ARCH_X86_64,
    nr_socket: NR_SOCKET_X86_64,
    nr_connect: NR_CONNECT_X86_64,
    nr_listen: NR_LISTEN_X86_64,
    nr_setsockopt: NR_SETSOCKOPT_X86_64,
    nr_getsockopt: NR_GETSOCKOPT_X86_64,
    has_x32: true,
};

pub const AARCH64: Arch = Arch {
    audit_arch: AUDIT_ARCH_AARCH64,
    nr_socket: NR_SOCKET_AARCH64,
    nr_connect: NR_CONNECT_AARCH64,
    nr_listen: NR_LISTEN_AARCH64,
    nr_setsockopt: NR_SETSOCKOPT_AARCH64,
    nr_getsockopt: NR_GETSOCKOPT_AARCH64,
    has_x32: false,
};

/// The architecture this binary runs as, if the engine supports it.
pub const fn native() -> Option<Arch> {
    if cfg!(target_arch = "x86_64") {
        Some(X86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(AARCH64)
    } else {
        None
    }
}

// Classic BPF opcodes (linux/bpf_common.h), as u16 like sock_filter.code.
const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Which calls besides TCP `socket()` the supervisor needs to see: only
/// those a rule can answer with plain TCP ([`super::swap::traps`]), so a
/// program run without such rules pays nothing at `connect()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traps {
    /// `connect()` with an inet address length.
    pub connect: bool,
    /// Every `listen()`.
    pub listen: bool,
    /// `setsockopt()` and `getsockopt()` of the options MPTCP rejects.
    pub options: bool,
}

/// Where a conditional jump goes, resolved into offsets at the end.
#[derive(Clone, Copy)]
enum To {
    Next,
    Type,
    Notify,
    Allow,
    Socket,
    Connect,
    Set,
    Get,
}

/// Labels [`To`] names (every variant but `Next`).
const LABELS: usize = 8;

enum Step {
    Load(u32),
    And(u32),
    Jump {
        op: u16,
        k: u32,
        yes: To,
        no: To,
    },
    /// `jeq k`: on to the next instruction if equal, else `over` further.
    SkipUnless {
        k: u32,
        over: u8,
    },
    Label(To),
    Return(u32),
}

/// The filter program for `arch`, trapping TCP `socket()` only.
pub fn socket_filter(arch: Arch) -> Vec<sock_filter> {
    filter(arch, Traps::default())
}

/// The filter program for `arch`: TCP `socket()`, and what `traps` asks.
pub fn filter(arch: Arch, traps: Traps) -> Vec<sock_filter> {
    let ignored_flags = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u32;
    let mut steps = vec![
        Step::Load(ffi::DATA_ARCH),
        Step::Jump {
            op: JEQ_K,
            k: arch.audit_arch,
            yes: To::Next,
            no: To::Allow,
        },
        Step::Load(ffi::DATA_NR),
    ];
    if arch.has_x32 {
        steps.push(Step::Jump {
            op: JGE_K,
            k: X32_SYSCALL_BIT,
            yes: To::Allow,
            no: To::Next,
        });
    }
    // One comparison per trapped call; the last one's "no" allows.
    let mut dispatch = vec![(arch.nr_socket, To::Socket)];
    if traps.connect {
        dispatch.push((arch.nr_connect, To::Connect));
    }
    if traps.listen {
        dispatch.push((arch.nr_listen, To::Notify));
    }
    if traps.options {
        dispatch.push((arch.nr_setsockopt, To::Set));
        dispatch.push((arch.nr_getsockopt, To::Get));
    }
    let last = dispatch.len() - 1;
    for (index, (nr, to)) in dispatch.into_iter().enumerate() {
        steps.push(Step::Jump {
            op: JEQ_K,
            k: nr,
            yes: to,
            no: if index == last { To::Allow } else { To::Next },
        });
    }
    steps.extend([
        Step::Label(To::Socket),
        Step::Load(ffi::data_arg_low(0)),
        Step::Jump {
            op: JEQ_K,
            k: libc::AF_INET as u32,
            yes: To::Type,
            no: To::Next,
        },
        Step::Jump {
            op: JEQ_K,
            k: libc::AF_INET6 as u32,
            yes: To::Next,
            no: To::Allow,
        },
        Step::Label(To::Type),
        Step::Load(ffi::data_arg_low(1)),
        Step::And(!ignored_flags),
        Step::Jump {
            op: JEQ_K,
            k: libc::SOCK_STREAM as u32,
            yes: To::Next,
            no: To::Allow,
        },
        Step::Load(ffi::data_arg_low(2)),
        Step::Jump {
            op: JEQ_K,
            k: 0,
            yes: To::Notify,
            no: To::Next,
        },
        Step::Jump {
            op: JEQ_K,
            k: libc::IPPROTO_TCP as u32,
            yes: To::Notify,
            no: To::Allow,
        },
    ]);
    if traps.connect {
        steps.extend([
            Step::Label(To::Connect),
            Step::Load(ffi::data_arg_low(2)),
            Step::Jump {
                op: JEQ_K,
                k: size_of::<libc::sockaddr_in>() as u32,
                yes: To::Notify,
                no: To::Next,
            },
            Step::Jump {
                op: JEQ_K,
                k: size_of::<libc::sockaddr_in6>() as u32,
                yes: To::Notify,
                no: To::Allow,
            },
        ]);
    }
    if traps.options {
        steps.push(Step::Label(To::Set));
        option_names(&mut steps, |_, _| true);
        steps.push(Step::Label(To::Get));
        option_names(&mut steps, |level, name| {
            !READ_BY_MPTCP.contains(&(level, name))
        });
    }
    steps.extend([
        Step::Label(To::Notify),
        Step::Return(RET_USER_NOTIF),
        Step::Label(To::Allow),
        Step::Return(RET_ALLOW),
    ]);
    assemble(&steps)
}

/// Sends a `setsockopt()`/`getsockopt()` whose (level, name) is in the
/// contract's `REJECTED` (and `wanted`) to the supervisor; allows the rest.
/// One block per level: the level compared once, then each of its names.
fn option_names(steps: &mut Vec<Step>, wanted: impl Fn(i32, i32) -> bool) {
    let mut levels: Vec<(i32, Vec<i32>)> = Vec::new();
    for &SockOpt { level, name, .. } in REJECTED {
        if !wanted(level, name) {
            continue;
        }
        match levels.iter_mut().find(|(l, _)| *l == level) {
            Some((_, names)) => names.push(name),
            None => levels.push((level, vec![name])),
        }
    }
    for (block, (level, names)) in levels.iter().enumerate() {
        let last_block = block == levels.len() - 1;
        steps.push(Step::Load(ffi::data_arg_low(1)));
        if last_block {
            steps.push(Step::Jump {
                op: JEQ_K,
                k: *level as u32,
                yes: To::Next,
                no: To::Allow,
            });
        } else {
            // Past this block's name load and comparisons.
            let over = u8::try_from(names.len() + 1).expect("a short list of names");
            steps.push(Step::SkipUnless {
                k: *level as u32,
                over,
            });
        }
        steps.push(Step::Load(ffi::data_arg_low(2)));
        for (index, name) in names.iter().enumerate() {
            steps.push(Step::Jump {
                op: JEQ_K,
                k: *name as u32,
                yes: To::Notify,
                no: if index == names.len() - 1 {
                    To::Allow
                } else {
                    To::Next
                },
            });
        }
    }
}

/// `io_uring_setup(2)`'s number: 425 on x86_64 and on aarch64 (the generic
/// table), as every system call since 5.1's unified numbering (424+).
pub const NR_IO_URING_SETUP: u32 = 425;

/// `SECCOMP_RET_ERRNO | ENOSYS`: the call fails with ENOSYS, as on a
/// kernel built without io_uring, which programs already handle.
pub const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// The filter as installed: [`socket_filter`], after [`io_uring_refusal`]
/// when `refuse_io_uring` (`run --no-io-uring`).
pub fn program(arch: Arch, refuse_io_uring: bool, traps: Traps) -> Vec<sock_filter> {
    let mut program = match refuse_io_uring {
        true => io_uring_refusal(arch).to_vec(),
        false => Vec::new(),
    };
    program.extend(filter(arch, traps));
    program
}

/// Makes the native `io_uring_setup` fail with ENOSYS and goes on to the
/// next instruction for every other call. Self-contained (its own
/// architecture check), so it can go in front of any program. x32 and
/// 32-bit calls are left alone, as the socket filter leaves theirs.
///
/// ```text
///      ld  [arch]
///      jeq #AUDIT_ARCH, 0, next
///      ld  [nr]
///      jeq #NR_io_uring_setup, 0, next
///      ret #SECCOMP_RET_ERRNO|ENOSYS
/// next:
/// ```
pub fn io_uring_refusal(arch: Arch) -> [sock_filter; 5] {
    let insn = |code: u16, jt: u8, jf: u8, k: u32| sock_filter { code, jt, jf, k };
    [
        insn(LD_W_ABS, 0, 0, ffi::DATA_ARCH),
        insn(JEQ_K, 0, 3, arch.audit_arch),
        insn(LD_W_ABS, 0, 0, ffi::DATA_NR),
        insn(JEQ_K, 0, 1, NR_IO_URING_SETUP),
        insn(RET_K, 0, 0, RET_ENOSYS),
    ]
}

/// Turns steps into instructions, resolving labels into forward offsets.
fn assemble(steps: &[Step]) -> Vec<sock_filter> {
    // Instruction index of each label (labels take no space).
    let mut at = 0usize;
    let mut labels = [0usize; LABELS];
    for step in steps {
        match step {
            Step::Label(to) => labels[*to as usize] = at,
            _ => at += 1,
        }
    }
    let mut program = Vec::with_capacity(at);
    for step in steps {
        let here = program.len();
        let offset = |to: To| -> u8 {
            match to {
                To::Next => 0,
                // Every jump in the program goes forward by a few steps, so
                // the offset always fits in a u8.
                label => (labels[label as usize] - here - 1) as u8,
            }
        };
        let insn = |code: u16, jt: u8, jf: u8, k: u32| sock_filter { code, jt, jf, k };
        program.push(match *step {
            Step::Load(offset) => insn(LD_W_ABS, 0, 0, offset),
            Step::And(mask) => insn(AND_K, 0, 0, mask),
            Step::Jump { op, k, yes, no } => insn(op, offset(yes), offset(no), k),
            Step::SkipUnless { k, over } => insn(JEQ_K, 0, over, k),
            Step::Return(action) => insn(RET_K, 0, 0, action),
            Step::Label(_) => continue,
        });
    }
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOCKET: i64 = NR_SOCKET_X86_64 as i64;

    /// A classic BPF interpreter for the instructions the filter uses, over
    /// a `seccomp_data` laid out as the kernel does. Panics on anything
    /// else, including jumps out of the program or falling off its end.
    fn run(program: &[sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&(nr as i32).to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (index, arg) in args.iter().enumerate() {
            data[16 + 8 * index..24 + 8 * index].copy_from_slice(&arg.to_le_bytes());
        }
        let mut acc: u32 = 0;
        let mut pc = 0usize;
        for _ in 0..program.len() {
            let insn = program[pc];
            pc += 1;
            match insn.code {
                LD_W_ABS => {
                    let at = insn.k as usize;
                    assert!(at % 4 == 0 && at + 4 <= 64, "bad load offset {at}");
                    acc = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
                }
                AND_K => acc &= insn.k,
                JEQ_K | JGE_K => {
                    let taken = if insn.code == JEQ_K {
                        acc == insn.k
                    } else {
                        acc >= insn.k
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                RET_K => return insn.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
            assert!(pc < program.len(), "jumped past the end");
        }
        panic!("no return reached");
    }

    fn x86(nr: i64, args: [u64; 6]) -> u32 {
        run(&socket_filter(X86_64), AUDIT_ARCH_X86_64, nr, args)
    }

    fn socket_args(domain: i32, ty: i32, protocol: i32) -> [u64; 6] {
        // Sign-extended like a C int in a 64-bit register.
        [
            domain as i64 as u64,
            ty as i64 as u64,
            protocol as i64 as u64,
            0,
            0,
            0,
        ]
    }

    #[test]
    fn tcp_stream_sockets_are_sent_to_the_supervisor() {
        let flags = [
            0,
            libc::SOCK_NONBLOCK,
            libc::SOCK_CLOEXEC,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        ];
        for domain in [libc::AF_INET, libc::AF_INET6] {
            for flag in flags {
                for protocol in [0, libc::IPPROTO_TCP] {
                    let args = socket_args(domain, libc::SOCK_STREAM | flag, protocol);
                    assert_eq!(
                        x86(SOCKET, args),
                        RET_USER_NOTIF,
                        "{domain} {flag:#x} {protocol}"
                    );
                }
            }
        }
    }

    #[test]
    fn other_sockets_are_allowed() {
        for (domain, ty, protocol) in [
            (libc::AF_INET, libc::SOCK_DGRAM, 0),
            (libc::AF_INET6, libc::SOCK_DGRAM, libc::IPPROTO_UDP),
            (libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_MPTCP),
            (libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_SCTP),
            (libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_TCP),
            (libc::AF_INET, libc::SOCK_SEQPACKET, 0),
            (libc::AF_UNIX, libc::SOCK_STREAM, 0),
            (libc::AF_NETLINK, libc::SOCK_RAW, 0),
            (libc::AF_PACKET, libc::SOCK_STREAM, 0),
            // Unknown type bits: the kernel says EINVAL, as it should.
            (libc::AF_INET, libc::SOCK_STREAM | 0x100, 0),
            (libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_DGRAM, 0),
        ] {
            let args = socket_args(domain, ty, protocol);
            assert_eq!(x86(SOCKET, args), RET_ALLOW, "{domain} {ty:#x} {protocol}");
        }
    }

    #[test]
    fn only_the_low_half_of_each_argument_counts() {
        // The kernel truncates socket()'s int arguments; so does the filter
        // (and the supervisor).
        let mut args = socket_args(libc::AF_INET, libc::SOCK_STREAM, 0);
        args[0] |= 0xdead_0000_0000;
        args[2] |= 0x1_0000_0000;
        assert_eq!(x86(SOCKET, args), RET_USER_NOTIF);
    }

    #[test]
    fn other_system_calls_are_allowed() {
        let tcp = socket_args(libc::AF_INET, libc::SOCK_STREAM, 0);
        for nr in [0, 1, 40, 42, 53, 59, 231, 435, 0x3fff_ffff] {
            assert_eq!(x86(nr, tcp), RET_ALLOW, "nr {nr}");
        }
    }

    #[test]
    fn x32_calls_are_not_trapped() {
        let tcp = socket_args(libc::AF_INET, libc::SOCK_STREAM, 0);
        let x32_socket = i64::from(X32_SYSCALL_BIT) + SOCKET;
        assert_eq!(x86(x32_socket, tcp), RET_ALLOW);
        assert_eq!(x86(i64::from(X32_SYSCALL_BIT), tcp), RET_ALLOW);
        assert_eq!(x86(-1, tcp), RET_ALLOW);
    }

    #[test]
    fn foreign_architectures_are_allowed() {
        let tcp = socket_args(libc::AF_INET, libc::SOCK_STREAM, 0);
        let program = socket_filter(X86_64);
        const AUDIT_ARCH_I386: u32 = 0x4000_0003;
        for arch in [AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, 0] {
            assert_eq!(run(&program, arch, SOCKET, tcp), RET_ALLOW, "{arch:#x}");
            assert_eq!(run(&program, arch, 359, tcp), RET_ALLOW, "{arch:#x}");
        }
    }

    #[test]
    fn aarch64_program() {
        let program = socket_filter(AARCH64);
        let tcp = socket_args(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let nr = i64::from(NR_SOCKET_AARCH64);
        assert_eq!(run(&program, AUDIT_ARCH_AARCH64, nr, tcp), RET_USER_NOTIF);
        assert_eq!(run(&program, AUDIT_ARCH_AARCH64, SOCKET, tcp), RET_ALLOW);
        assert_eq!(run(&program, AUDIT_ARCH_X86_64, nr, tcp), RET_ALLOW);
        let udp = socket_args(libc::AF_INET, libc::SOCK_DGRAM, 0);
        assert_eq!(run(&program, AUDIT_ARCH_AARCH64, nr, udp), RET_ALLOW);
        // No x32 check, one instruction shorter.
        assert_eq!(program.len() + 1, socket_filter(X86_64).len());
    }

    #[test]
    fn program_shape() {
        let program = socket_filter(X86_64);
        assert_eq!(program.len(), 16);
        assert_eq!(program[0].code, LD_W_ABS);
        assert_eq!(program[0].k, ffi::DATA_ARCH);
        let last = program[program.len() - 1];
        assert_eq!((last.code, last.k), (RET_K, RET_ALLOW));
        // Every jump lands inside the program.
        for (index, insn) in program.iter().enumerate() {
            if insn.code == JEQ_K || insn.code == JGE_K {
                let furthest = index + 1 + usize::from(insn.jt.max(insn.jf));
                assert!(furthest < program.len(), "instruction {index}");
            }
        }
    }

    /// `--no-io-uring`: io_uring_setup of the native architecture fails
    /// with ENOSYS; everything else is judged as without it.
    #[test]
    fn io_uring_setup_is_refused_only_when_asked() {
        let tcp = socket_args(libc::AF_INET, libc::SOCK_STREAM, 0);
        let setup = i64::from(NR_IO_URING_SETUP);
        for arch in [X86_64, AARCH64] {
            let refusing = program(arch, true, Traps::default());
            let plain = program(arch, false, Traps::default());
            let fields = |p: &[sock_filter]| -> Vec<(u16, u8, u8, u32)> {
                p.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
            };
            assert_eq!(fields(&plain), fields(&socket_filter(arch)));
            assert_eq!(refusing.len(), plain.len() + 5);
            let nr_socket = i64::from(arch.nr_socket);
            let audit = arch.audit_arch;
            assert_eq!(run(&refusing, audit, setup, tcp), RET_ENOSYS);
            assert_eq!(run(&plain, audit, setup, tcp), RET_ALLOW);
            assert_eq!(run(&refusing, audit, nr_socket, tcp), RET_USER_NOTIF);
            // io_uring_enter, io_uring_register: only setup is refused.
            for nr in [426, 427, 0, 59] {
                assert_eq!(run(&refusing, audit, nr, tcp), RET_ALLOW, "nr {nr}");
            }
            // Another architecture's number 425 is not ours.
            assert_eq!(run(&refusing, 0x4000_0003, setup, tcp), RET_ALLOW);
        }
        let x32_setup = i64::from(X32_SYSCALL_BIT) + setup;
        assert_eq!(
            run(
                &program(X86_64, true, Traps::default()),
                AUDIT_ARCH_X86_64,
                x32_setup,
                tcp
            ),
            RET_ALLOW
        );
        assert_eq!(RET_ENOSYS & 0xffff, libc::ENOSYS as u32);
    }

    #[test]
    fn io_uring_setup_has_the_same_number_on_both_architectures() {
        // libc's number for the architecture this test runs on.
        assert_eq!(libc::SYS_io_uring_setup, i64::from(NR_IO_URING_SETUP));
    }

    fn connect_args(len: u64) -> [u64; 6] {
        [3, 0x7ffd_0000_1000, len, 0, 0, 0]
    }

    const CONNECT: i64 = NR_CONNECT_X86_64 as i64;
    const LISTEN: i64 = NR_LISTEN_X86_64 as i64;
    const BOTH: Traps = Traps {
        connect: true,
        listen: true,
        options: false,
    };

    #[test]
    fn connect_and_listen_pass_without_traps() {
        let program = socket_filter(X86_64);
        for args in [connect_args(16), connect_args(28)] {
            assert_eq!(run(&program, AUDIT_ARCH_X86_64, CONNECT, args), RET_ALLOW);
            assert_eq!(run(&program, AUDIT_ARCH_X86_64, LISTEN, args), RET_ALLOW);
        }
    }

    #[test]
    fn inet_connects_are_trapped_and_unix_ones_are_not() {
        for traps in [
            BOTH,
            Traps {
                connect: true,
                listen: false,
                options: false,
            },
        ] {
            let program = filter(X86_64, traps);
            let at = |nr, args| run(&program, AUDIT_ARCH_X86_64, nr, args);
            assert_eq!(at(CONNECT, connect_args(16)), RET_USER_NOTIF);
            assert_eq!(at(CONNECT, connect_args(28)), RET_USER_NOTIF);
            // The length is a socklen_t: only its low half counts.
            assert_eq!(
                at(CONNECT, connect_args(0xffff_0000_0000 | 16)),
                RET_USER_NOTIF
            );
            // sockaddr_un (110, or shorter for a named path), netlink (12).
            for len in [0, 2, 12, 15, 17, 24, 27, 29, 110] {
                assert_eq!(at(CONNECT, connect_args(len)), RET_ALLOW, "len {len}");
            }
            // TCP sockets are still trapped, the rest still allowed.
            let tcp = socket_args(libc::AF_INET6, libc::SOCK_STREAM, 0);
            assert_eq!(at(SOCKET, tcp), RET_USER_NOTIF);
            let udp = socket_args(libc::AF_INET, libc::SOCK_DGRAM, 0);
            assert_eq!(at(SOCKET, udp), RET_ALLOW);
            assert_eq!(at(0, connect_args(16)), RET_ALLOW);
            let x32_connect = i64::from(X32_SYSCALL_BIT) + CONNECT;
            assert_eq!(at(x32_connect, connect_args(16)), RET_ALLOW);
            let listen = if traps.listen {
                RET_USER_NOTIF
            } else {
                RET_ALLOW
            };
            assert_eq!(at(LISTEN, [3, 128, 0, 0, 0, 0]), listen);
        }
    }

    #[test]
    fn listen_alone_is_trapped() {
        let traps = Traps {
            connect: false,
            listen: true,
            options: false,
        };
        let program = filter(X86_64, traps);
        let at = |nr, args| run(&program, AUDIT_ARCH_X86_64, nr, args);
        assert_eq!(at(LISTEN, [3, 4096, 0, 0, 0, 0]), RET_USER_NOTIF);
        assert_eq!(at(CONNECT, connect_args(16)), RET_ALLOW);
        let tcp = socket_args(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert_eq!(at(SOCKET, tcp), RET_USER_NOTIF);
    }

    #[test]
    fn aarch64_traps() {
        let program = filter(AARCH64, BOTH);
        let at = |nr: u32, args| run(&program, AUDIT_ARCH_AARCH64, i64::from(nr), args);
        assert_eq!(at(NR_CONNECT_AARCH64, connect_args(28)), RET_USER_NOTIF);
        assert_eq!(at(NR_LISTEN_AARCH64, [3, 1, 0, 0, 0, 0]), RET_USER_NOTIF);
        assert_eq!(at(NR_CONNECT_X86_64, connect_args(28)), RET_ALLOW);
        assert_eq!(at(NR_CONNECT_AARCH64, connect_args(110)), RET_ALLOW);
    }

    #[test]
    fn traps_cost_only_their_own_instructions() {
        let plain = socket_filter(X86_64).len();
        let connect = Traps {
            connect: true,
            listen: false,
            options: false,
        };
        let listen = Traps {
            connect: false,
            listen: true,
            options: false,
        };
        assert_eq!(filter(X86_64, connect).len(), plain + 4);
        assert_eq!(filter(X86_64, listen).len(), plain + 1);
        assert_eq!(filter(X86_64, BOTH).len(), plain + 5);
        for traps in [connect, listen, BOTH] {
            let program = filter(X86_64, traps);
            for (index, insn) in program.iter().enumerate() {
                if insn.code == JEQ_K || insn.code == JGE_K {
                    let furthest = index + 1 + usize::from(insn.jt.max(insn.jf));
                    assert!(furthest < program.len(), "{traps:?}: instruction {index}");
                }
            }
        }
    }

    #[test]
    fn native_architecture_is_known_here() {
        if cfg!(target_arch = "x86_64") {
            assert_eq!(native(), Some(X86_64));
        }
    }

    fn option_args(level: i32, name: i32) -> [u64; 6] {
        [
            3,
            level as i64 as u64,
            name as i64 as u64,
            0x7ffd_0000_1000,
            4,
            0,
        ]
    }

    const SET: i64 = NR_SETSOCKOPT_X86_64 as i64;
    const GET: i64 = NR_GETSOCKOPT_X86_64 as i64;

    /// Exactly the options MPTCP rejects stop, at both calls (reads of
    /// those MPTCP still answers excepted); ordinary options never do.
    #[test]
    fn only_rejected_options_are_trapped() {
        let traps = Traps {
            options: true,
            ..Traps::default()
        };
        for arch in [X86_64, AARCH64] {
            let program = filter(arch, traps);
            let at = |nr: u32, args| run(&program, arch.audit_arch, i64::from(nr), args);
            for option @ &SockOpt { level, name, .. } in REJECTED {
                let text = option.text();
                assert_eq!(
                    at(arch.nr_setsockopt, option_args(level, name)),
                    RET_USER_NOTIF,
                    "set {text}"
                );
                let read = match READ_BY_MPTCP.contains(&(level, name)) {
                    true => RET_ALLOW,
                    false => RET_USER_NOTIF,
                };
                assert_eq!(
                    at(arch.nr_getsockopt, option_args(level, name)),
                    read,
                    "get {text}"
                );
            }
            for (level, name) in [
                (libc::SOL_TCP, libc::TCP_NODELAY),
                (libc::SOL_TCP, libc::TCP_KEEPIDLE),
                (libc::SOL_SOCKET, libc::SO_REUSEADDR),
                (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
                (libc::SOL_IP, libc::IP_TOS),
                (libc::SOL_IPV6, libc::IPV6_V6ONLY),
                // A rejected name under another level.
                (libc::SOL_SOCKET, libc::TCP_USER_TIMEOUT),
                (libc::SOL_UDP, libc::IP_TTL),
            ] {
                for nr in [arch.nr_setsockopt, arch.nr_getsockopt] {
                    assert_eq!(
                        at(nr, option_args(level, name)),
                        RET_ALLOW,
                        "{level} {name}"
                    );
                }
            }
            let tcp = socket_args(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert_eq!(at(arch.nr_socket, tcp), RET_USER_NOTIF);
            assert_eq!(at(arch.nr_connect, connect_args(16)), RET_ALLOW);
        }
        // Without the trap, nothing stops.
        let program = socket_filter(X86_64);
        let user_timeout = option_args(libc::SOL_TCP, libc::TCP_USER_TIMEOUT);
        assert_eq!(
            run(&program, AUDIT_ARCH_X86_64, SET, user_timeout),
            RET_ALLOW
        );
        assert_eq!(
            run(&program, AUDIT_ARCH_X86_64, GET, user_timeout),
            RET_ALLOW
        );
    }
}
