//! Which engine `run` uses to give a program MPTCP sockets.
//!
//! - `preload`: exec the program with the shim in LD_PRELOAD. No cost per
//!   socket beyond a few comparisons, the program is exec'd directly (same
//!   PID), but it only reaches `socket()` calls made through a dynamically
//!   linked libc.
//! - `seccomp`: start the program under a seccomp filter and a supervisor
//!   ([`crate::engine::seccomp`]). Reaches every `socket()` system call, so static
//!   and Go programs too, at the price of a round trip to the supervisor
//!   per TCP socket.
//! - `auto` (the default): `seccomp` for statically linked programs and Go
//!   programs (Go's runtime makes system calls itself, even when the program
//!   is dynamically linked), when the kernel supports it; `preload` for
//!   everything else, and for set-ID programs (the filter's `no_new_privs`
//!   would keep them from gaining their privileges).
//!
//! The choice is a pure function of what is known about the program and of
//! whether the seccomp engine is available (asked only when needed).

pub mod preload;
pub mod seccomp;

use crate::run::elf::ElfInfo;

/// The `--engine` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineOption {
    #[default]
    Auto,
    Preload,
    Seccomp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Preload,
    Seccomp,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Preload => "preload",
            Engine::Seccomp => "seccomp",
        }
    }
}

/// Why an engine was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `--engine preload` or `--engine seccomp`.
    Asked,
    StaticallyLinked,
    Go,
    SetId,
    DynamicallyLinked,
    NotElf,
}

impl Reason {
    /// E.g. "busybox is statically linked", "--engine seccomp".
    pub fn describe(self, engine: Engine, program: &std::ffi::OsStr) -> String {
        let program = std::path::Path::new(program).display();
        match self {
            Reason::Asked => format!("--engine {}", engine.name()),
            Reason::StaticallyLinked => format!("{program} is statically linked"),
            Reason::Go => format!("{program} is a Go program"),
            Reason::SetId => format!("{program} is set-ID"),
            Reason::DynamicallyLinked => format!("{program} is dynamically linked"),
            Reason::NotElf => format!("{program} is not an ELF binary"),
        }
    }
}

/// What was chosen, and why (for `-d` and warnings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub engine: Engine,
    pub reason: Reason,
    /// `auto` wanted seccomp but it is unavailable: the reason, to be shown.
    pub fallback_from_seccomp: Option<String>,
}

/// The facts about the program the choice depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgramFacts {
    pub elf: ElfInfo,
    /// Set-user-ID or set-group-ID (an ELF the kernel runs with privileges).
    pub set_id: bool,
}

/// Chooses the engine. `seccomp_available` is called only when the answer
/// matters; its error is the reason for the user.
pub fn choose(
    option: EngineOption,
    program: &ProgramFacts,
    seccomp_available: impl FnOnce() -> Result<(), String>,
) -> Result<Choice, String> {
    let chosen = |engine, reason| Choice {
        engine,
        reason,
        fallback_from_seccomp: None,
    };
    match option {
        EngineOption::Preload => Ok(chosen(Engine::Preload, Reason::Asked)),
        EngineOption::Seccomp => match seccomp_available() {
            Ok(()) => Ok(chosen(Engine::Seccomp, Reason::Asked)),
            Err(reason) => Err(format!("the seccomp engine cannot be used: {reason}")),
        },
        EngineOption::Auto => {
            let Some(reason) = needs_seccomp(program) else {
                return Ok(chosen(Engine::Preload, preload_reason(program)));
            };
            Ok(match seccomp_available() {
                Ok(()) => chosen(Engine::Seccomp, reason),
                Err(unavailable) => Choice {
                    engine: Engine::Preload,
                    reason,
                    fallback_from_seccomp: Some(unavailable),
                },
            })
        }
    }
}

/// Why LD_PRELOAD cannot reach this program, if it cannot and seccomp may
/// be used instead.
fn needs_seccomp(program: &ProgramFacts) -> Option<Reason> {
    if program.set_id {
        return None;
    }
    if program.elf.is_go {
        Some(Reason::Go)
    } else if program.elf.is_statically_linked() {
        Some(Reason::StaticallyLinked)
    } else {
        None
    }
}

fn preload_reason(program: &ProgramFacts) -> Reason {
    if program.set_id {
        Reason::SetId
    } else if program.elf.is_elf {
        Reason::DynamicallyLinked
    } else {
        Reason::NotElf
    }
}

/// One row of "which engine reaches what": a way programs create sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    pub calls: &'static str,
    /// The preload engine turns these sockets into MPTCP.
    pub preload: bool,
    /// The seccomp engine does.
    pub seccomp: bool,
    /// Who makes them, or the way around.
    pub note: &'static str,
}

/// Which engine reaches what, as `check`, `run --help` and the README say
/// it (tests/tests/reach.rs runs each row with each engine).
pub const REACH: [Reach; 3] = [
    Reach {
        calls: "socket() through libc",
        preload: true,
        seccomp: true,
        note: "dynamically linked programs",
    },
    Reach {
        calls: "socket() as a raw system call",
        preload: false,
        seccomp: true,
        note: "static programs, Go",
    },
    Reach {
        calls: "io_uring IORING_OP_SOCKET",
        preload: false,
        seccomp: false,
        note: "run --no-io-uring: socket() instead",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(has_interp: bool, is_go: bool) -> ElfInfo {
        ElfInfo {
            is_elf: true,
            is_executable: true,
            has_interp,
            program_headers_complete: true,
            is_go,
        }
    }

    fn facts(has_interp: bool, is_go: bool, set_id: bool) -> ProgramFacts {
        ProgramFacts {
            elf: elf(has_interp, is_go),
            set_id,
        }
    }

    fn available() -> Result<(), String> {
        Ok(())
    }

    fn unavailable() -> Result<(), String> {
        Err("too old".into())
    }

    fn never_asked() -> Result<(), String> {
        panic!("seccomp availability must not be probed here")
    }

    #[test]
    fn auto_uses_preload_for_dynamic_programs_without_probing() {
        let choice = choose(EngineOption::Auto, &facts(true, false, false), never_asked).unwrap();
        assert_eq!(choice.engine, Engine::Preload);
        assert_eq!(choice.fallback_from_seccomp, None);
        let script = ProgramFacts::default();
        let choice = choose(EngineOption::Auto, &script, never_asked).unwrap();
        assert_eq!(choice.engine, Engine::Preload);
    }

    #[test]
    fn auto_uses_seccomp_for_static_and_go_programs() {
        for (program, reason) in [
            (facts(false, false, false), Reason::StaticallyLinked),
            (facts(false, true, false), Reason::Go),
            (facts(true, true, false), Reason::Go),
        ] {
            let choice = choose(EngineOption::Auto, &program, available).unwrap();
            assert_eq!(choice.engine, Engine::Seccomp, "{program:?}");
            assert_eq!(choice.reason, reason);
            assert_eq!(choice.fallback_from_seccomp, None);
        }
    }

    #[test]
    fn auto_falls_back_to_preload_when_seccomp_is_unavailable() {
        let choice = choose(EngineOption::Auto, &facts(false, false, false), unavailable).unwrap();
        assert_eq!(choice.engine, Engine::Preload);
        assert_eq!(choice.fallback_from_seccomp.as_deref(), Some("too old"));
    }

    #[test]
    fn auto_keeps_set_id_programs_on_preload() {
        let choice = choose(EngineOption::Auto, &facts(false, false, true), never_asked).unwrap();
        assert_eq!(choice.engine, Engine::Preload);
        assert_eq!(choice.reason, Reason::SetId);
    }

    #[test]
    fn inconclusive_headers_stay_on_preload() {
        let program = ProgramFacts {
            elf: ElfInfo {
                program_headers_complete: false,
                ..elf(false, false)
            },
            set_id: false,
        };
        let choice = choose(EngineOption::Auto, &program, never_asked).unwrap();
        assert_eq!(choice.engine, Engine::Preload);
    }

    #[test]
    fn explicit_choices_are_obeyed() {
        let dynamic = facts(true, false, false);
        let choice = choose(EngineOption::Seccomp, &dynamic, available).unwrap();
        assert_eq!(choice.engine, Engine::Seccomp);
        let choice = choose(
            EngineOption::Preload,
            &facts(false, true, false),
            never_asked,
        )
        .unwrap();
        assert_eq!(choice.engine, Engine::Preload);
        assert_eq!(choice.fallback_from_seccomp, None);
    }

    #[test]
    fn reasons_read_well() {
        let prog = std::ffi::OsStr::new("busybox");
        assert_eq!(
            Reason::StaticallyLinked.describe(Engine::Seccomp, prog),
            "busybox is statically linked"
        );
        assert_eq!(
            Reason::Asked.describe(Engine::Seccomp, prog),
            "--engine seccomp"
        );
    }

    #[test]
    fn explicit_seccomp_fails_when_unavailable() {
        let error = choose(
            EngineOption::Seccomp,
            &facts(false, false, false),
            unavailable,
        )
        .unwrap_err();
        assert!(error.contains("too old"), "{error}");
        assert!(error.contains("seccomp engine"), "{error}");
    }
}
