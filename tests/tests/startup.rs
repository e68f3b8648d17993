//! What loading the shim costs every process, and what it must not change
//! (issue 20). The shim is loaded into every program `run` starts and into
//! everything those start; most never open a socket. So it does nothing at
//! load but read its settings and watch `fork()`: libc's functions are
//! looked up on their first call, and it imports four symbols from libc.
//!
//! - A program that opens no socket behaves under `run` exactly as bare:
//!   exit status, output, death by a signal (its own or sent to it), and
//!   the signal mask and ignored signals it starts with.
//! - The first socket, looked up lazily, is still MPTCP when threads race
//!   to it, and when it is made in a signal handler, even one that
//!   interrupts the dynamic loader or the allocator (where `dlsym` would
//!   wait forever for the loader's lock: the shim's own lookup takes none).
//! - That lookup finds what `dlsym(RTLD_NEXT)` would: a preload library
//!   after the shim gets the shim's calls, also through an object with
//!   only the old SysV hash table. Loaded with `dlopen` instead, the shim never reads an object
//!   another thread is unloading.
//!
//! `tests/tests/release.rs` checks the shipped library's imports (four) and
//! exports (the wrapped calls).

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mptcpize_rs_tests::*;

/// The ways of running a program under test: bare, and under `run` with
/// no option (the launcher's fast path), with an option before PROG (the
/// fast path with options), and under the seccomp engine.
fn runners(program: &[&str]) -> Vec<(&'static str, Command)> {
    let mut bare = Command::new(program[0]);
    bare.args(&program[1..]);
    let run = |options: &[&str]| {
        let mut args: Vec<&str> = vec!["run"];
        args.extend(options);
        args.push("--");
        args.extend(program);
        launch(args)
    };
    vec![
        ("bare", bare),
        ("run", run(&[])),
        ("run --loopback", run(&["--loopback"])),
        ("run --engine seccomp", run(&["--engine", "seccomp"])),
    ]
}

#[test]
fn a_program_that_opens_no_socket_behaves_as_bare() {
    let programs: [&[&str]; 5] = [
        &["true"],
        &["sh", "-c", "exit 3"],
        &["sh", "-c", "echo out; echo err >&2; exit 7"],
        &["sh", "-c", "kill -TERM $$"],
        // What the program starts with: blocked and ignored signals (read
        // by grep itself: a shell's own mask changes while it forks).
        &["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"],
    ];
    for program in programs {
        let mut outcomes = runners(program)
            .into_iter()
            .map(|(how, mut command)| (how, run_timeout(&mut command, SHORT)));
        let (_, bare) = outcomes.next().expect("the bare run");
        for (how, wrapped) in outcomes {
            let same = (wrapped.status.into_raw(), &wrapped.stdout, &wrapped.stderr)
                == (bare.status.into_raw(), &bare.stdout, &bare.stderr);
            assert!(
                same,
                "{program:?} under {how} differs from bare\nbare:\n{bare}\n{how}:\n{wrapped}"
            );
        }
    }
}

/// Waits until `pid` runs `name` (the launcher has exec'd it).
fn wait_for_exec(pid: u32, name: &str) {
    let deadline = Instant::now() + SHORT;
    while std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        != name
    {
        assert!(Instant::now() < deadline, "{pid} never became {name}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_signal_sent_to_a_wrapped_program_ends_it_as_it_ends_a_bare_one() {
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // The seccomp engine keeps `run` as PROG's parent, which passes the
        // signal on (tests/seccomp.rs); here PROG is the process signalled.
        for (how, mut command) in runners(&["sleep", "30"]).into_iter().take(3) {
            command
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = ChildGuard::spawn(&mut command);
            wait_for_exec(child.id(), "sleep");
            child.signal(signal);
            let out = child.output_timeout(SHORT);
            assert_eq!(
                out.signal(),
                Some(signal),
                "{how}: sleep 30 and signal {signal}\n{out}"
            );
        }
    }
}

/// `mptcpize-rs run sockprobe ARGS...`, bounded by [`SHORT`].
fn sockprobe_under_run(args: &[&str]) -> CmdOutput {
    let mut command = launch(["run".as_ref(), sockprobe().as_os_str()]);
    command.args(args);
    run_timeout(&mut command, SHORT)
}

#[test]
fn first_sockets_racing_in_threads_are_mptcp() {
    require_mptcp();
    // Each run is a new process, so a new race to the first lookup.
    for _ in 0..20 {
        sockprobe_under_run(&["first-sockets", "16"])
            .expect_code(0)
            .stdout_has(&["first-sockets mptcp 16 of 16"]);
    }
}

#[test]
fn the_first_socket_in_a_signal_handler_is_mptcp() {
    require_mptcp();
    sockprobe_under_run(&["first-socket-in-handler", "idle"])
        .expect_code(0)
        .stdout_has(&["protocol 262"]);
    // The handler interrupts dlopen/dlclose and malloc/free at a random
    // point; a deadlock would end in the timeout.
    for _ in 0..100 {
        sockprobe_under_run(&["first-socket-in-handler", "busy"])
            .expect_code(0)
            .stdout_has(&["protocol 262"]);
    }
}

/// With another preload library after the shim (`LD_PRELOAD=shim:other`),
/// the shim's next `socket` is the other library's: it sees every socket
/// call, asked for as MPTCP, and the program gets MPTCP sockets.
#[test]
fn the_next_definition_can_be_a_later_preload_library() {
    require_mptcp();
    let tmp = TempDir::new("laterpreload");
    let other = build_other_preload(tmp.path());
    let mark = tmp.join("mark.txt");
    let mut preload = shim().into_os_string();
    preload.push(":");
    preload.push(&other);
    let mut command = Command::new(sockprobe());
    clean_env(&mut command);
    command
        .arg("sockets")
        .env("LD_PRELOAD", &preload)
        .env("OTHER_PRELOAD_MARK", &mark);
    let out = run_timeout(&mut command, SHORT);
    out.success();
    assert_eq!(probe_protocol(&out.stdout, "tcp4"), MPTCP, "{out}");
    let marks = tmp.read_text("mark.txt");
    let asked_mptcp = marks
        .lines()
        .filter(|l| l.contains(" socket ") && l.contains(" protocol=262 "))
        .count();
    assert!(
        asked_mptcp >= TCP_CASES.len(),
        "the later library saw {asked_mptcp} MPTCP socket calls:\n{marks}\n{out}"
    );
}

/// A library with only a SysV hash table between the shim and libc (an
/// old build): the lookup reads that table too, and the busy handler
/// never hangs.
#[test]
fn an_object_with_only_a_sysv_hash_table_is_read_too() {
    require_mptcp();
    let tmp = TempDir::new("sysvhash");
    let sysv = build_fixture(
        tmp.path(),
        "sysv_hash",
        "libsysv.so",
        &["-shared", "-fPIC", "-Wl,--hash-style=sysv"],
    );
    let mut preload = shim().into_os_string();
    preload.push(":");
    preload.push(&sysv);
    for _ in 0..50 {
        let mut command = Command::new(sockprobe());
        clean_env(&mut command);
        command
            .args(["first-socket-in-handler", "busy"])
            .env("LD_PRELOAD", &preload);
        run_timeout(&mut command, SHORT)
            .expect_code(0)
            .stdout_has(&["protocol 262"]);
    }
}

/// The shim loaded with `dlopen` by a program while another thread loads
/// and unloads a library: its lookups stop at libc (before it), so no
/// crash, and its sockets are still MPTCP-or-TCP sockets.
#[test]
fn a_shim_loaded_with_dlopen_survives_other_libraries_coming_and_going() {
    let tmp = TempDir::new("dlopenshim");
    let program = build_fixture(
        tmp.path(),
        "dlopen_shim",
        "dlopen_shim",
        &["-O2", "-pthread", "-ldl"],
    );
    let mut command = Command::new(program);
    clean_env(&mut command);
    command.arg(shim()).arg("libresolv.so.2");
    let out = run_timeout(&mut command, SHORT);
    out.expect_code(0).stdout_has(&["ok "]);
}
