//! `mptcpize-rs-gen OUTDIR [--libdir DIR] [--bindir DIR]`: writes the man pages and the
//! shell completions of `mptcpize-rs` from the very CLI definition the
//! binary parses with (the library's `cli`), so they cannot drift.
//!
//! Output: `OUTDIR/man/mptcpize-rs.1` and one `mptcpize-rs-SUBCOMMAND.1` per
//! visible subcommand; `OUTDIR/completions/mptcpize-rs.bash`,
//! `_mptcpize-rs` (zsh) and `mptcpize-rs.fish`. `--libdir` is the shim's
//! installed directory and `--bindir` the launcher's (the build-time
//! directories the launcher was built with), named in the main page's FILES
//! section.
//!
//! A build-time tool run by the Makefile (`cargo run --features gen --bin
//! mptcpize-rs-gen`), never installed: clap_mangen and clap_complete stay
//! out of the shipped binary and out of a plain `cargo build`. Every file is
//! written to a temporary name and renamed, so concurrent runs (parallel
//! `make`s sharing a target directory) never leave a torn file.

use mptcpize_rs::cli;
use mptcpize_rs::engine::preload::shim::{SHIM_FILE_NAME, relative_dir};

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

const NAME: &str = "mptcpize-rs";
const DEFAULT_LIBDIR: &str = "/usr/local/lib/mptcpize-rs";
const DEFAULT_BINDIR: &str = "/usr/local/bin";
const USAGE: &str = "usage: mptcpize-rs-gen OUTDIR [--libdir DIR] [--bindir DIR]";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let mut out_dir = None;
    let mut libdir = PathBuf::from(DEFAULT_LIBDIR);
    let mut bindir = PathBuf::from(DEFAULT_BINDIR);
    while let Some(arg) = args.next() {
        if arg == "--libdir" || arg == "--bindir" {
            let Some(dir) = args.next() else {
                return usage();
            };
            if arg == "--libdir" {
                libdir = PathBuf::from(dir);
            } else {
                bindir = PathBuf::from(dir);
            }
        } else if out_dir.is_none() && !arg.to_string_lossy().starts_with('-') {
            out_dir = Some(PathBuf::from(arg));
        } else {
            return usage();
        }
    }
    let Some(out_dir) = out_dir else {
        return usage();
    };
    match generate(&out_dir, &Dirs { libdir, bindir }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mptcpize-rs-gen: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// The directories the launcher was built with (see `engine::preload::shim`).
struct Dirs {
    libdir: PathBuf,
    bindir: PathBuf,
}

fn generate(out_dir: &Path, dirs: &Dirs) -> io::Result<()> {
    let mut cmd = cli::Cli::command().bin_name(NAME);
    cmd.build();

    let man_dir = out_dir.join("man");
    std::fs::create_dir_all(&man_dir)?;
    let subcommands: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
        .cloned()
        .collect();
    let see_also: Vec<String> = subcommands
        .iter()
        .map(|sub| format!("{NAME}-{}", sub.get_name()))
        .collect();
    // Pages only for real subcommands: no "help" subcommand page.
    let mut man_cmd = cli::Cli::command()
        .bin_name(NAME)
        .disable_help_subcommand(true);
    man_cmd.build();
    let main_page = man_page(man_cmd, NAME, Some((dirs, &see_also)))?;
    write_atomically(&man_dir.join(format!("{NAME}.1")), &main_page)?;
    for sub in subcommands {
        let title = format!("{NAME}-{}", sub.get_name());
        let page = man_page(sub, &title, None)?;
        write_atomically(&man_dir.join(format!("{title}.1")), &page)?;
    }

    let completion_dir = out_dir.join("completions");
    std::fs::create_dir_all(&completion_dir)?;
    // clap_complete offers hidden subcommands too: leave out the demo's
    // internal peer, which no one types.
    let mut cmd = without_hidden_subcommands(cli::Cli::command());
    for (shell, file) in [
        (Shell::Bash, format!("{NAME}.bash")),
        (Shell::Zsh, format!("_{NAME}")),
        (Shell::Fish, format!("{NAME}.fish")),
    ] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, NAME, &mut script);
        if shell == Shell::Bash {
            script = fix_bash_hyphenated_name(&script);
        }
        write_atomically(&completion_dir.join(file), &script)?;
    }
    Ok(())
}

/// clap_complete (up to 4.6.11 at least) spells the bash states of a
/// hyphenated binary's subcommands two ways: the loop that reads the words
/// arrives at `mptcpize__rs__subcmd__run`, the case arms say
/// `mptcpize__subcmd__rs__subcmd__run`, so nothing after a subcommand ever
/// completes (clap-rs/clap#6421). Spell the arms like the loop; a no-op once
/// clap_complete is fixed.
fn fix_bash_hyphenated_name(script: &[u8]) -> Vec<u8> {
    let right = NAME.replace('-', "__");
    let wrong = NAME.replace('-', "__subcmd__");
    String::from_utf8_lossy(script)
        .replace(&format!("{wrong}__"), &format!("{right}__"))
        .into_bytes()
}

/// `cmd` (not yet built) with its hidden subcommands removed.
fn without_hidden_subcommands(cmd: clap::Command) -> clap::Command {
    let mut visible = clap::Command::new(NAME)
        .bin_name(NAME)
        .about(cmd.get_about().cloned().unwrap_or_default())
        .disable_version_flag(true)
        .args(cmd.get_arguments().cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    visible.build();
    visible
}

/// One page: clap_mangen's NAME, SYNOPSIS, DESCRIPTION, OPTIONS and
/// SUBCOMMANDS, then the command's after-help text split into real sections
/// at its own headings ("EXAMPLES:", "ENGINES:"...) instead of clap_mangen's
/// single "EXTRA". The main page (`main` = the directories and the
/// subcommand pages) also gets FILES and SEE ALSO.
fn man_page(
    cmd: clap::Command,
    title: &str,
    main: Option<(&Dirs, &[String])>,
) -> io::Result<Vec<u8>> {
    let after_help = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(|text| text.to_string());
    let cmd = cmd
        .after_help(None::<&'static str>)
        .after_long_help(None::<&'static str>);
    let mut page = Vec::new();
    Man::new(cmd)
        .title(title.to_uppercase())
        .source(format!("{NAME} {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands")
        .render(&mut page)?;

    let mut roff = Roff::new();
    if let Some(text) = after_help {
        render_after_help(&mut roff, &text);
    }
    if let Some((dirs, see_also)) = main {
        roff.control("SH", ["FILES"]);
        roff.control("TP", []);
        roff.text([bold(dirs.libdir.join(SHIM_FILE_NAME).display().to_string())]);
        // The launcher's own search order (engine::preload::shim).
        let relative = match relative_dir(&dirs.bindir, &dirs.libdir) {
            Some(relative) => format!(
                "The LD_PRELOAD shim. The installed launcher looks for it relative to \
                 its own directory ({}/), then here; ",
                relative.display()
            ),
            None => "The LD_PRELOAD shim. The installed launcher looks for it here; ".to_string(),
        };
        roff.text([roman(format!(
            "{relative}mptcpize-rs --version shows which one run uses."
        ))]);
        roff.control("TP", []);
        roff.text([bold("/etc/systemd/system/UNIT.d/zz-mptcpize-rs.conf")]);
        roff.text([roman(
            "The drop-in written by enable and removed by disable \
             (~/.config/systemd/user/UNIT.d/ with --user).",
        )]);
        roff.control("SH", ["SEE ALSO"]);
        let mut refs: Vec<String> = see_also.iter().map(|page| format!("{page}(1)")).collect();
        refs.extend(["systemd.exec(5)".to_string(), "ld.so(8)".to_string()]);
        roff.text([roman(refs.join(", "))]);
    } else {
        roff.control("SH", ["SEE ALSO"]);
        roff.text([roman(format!("{NAME}(1)"))]);
    }
    let mut extra = Vec::new();
    roff.to_writer(&mut extra)?;
    // Drop the second copy of roff's preamble (string definitions).
    let extra = String::from_utf8_lossy(&extra);
    let extra = extra.find(".SH").map_or("", |at| &extra[at..]);
    page.extend_from_slice(extra.as_bytes());
    Ok(page)
}

/// After-help text to roff: a line like "ENGINES:" or "IS IT WORKING?"
/// starts a section (text before the first heading goes to NOTES);
/// unindented lines are filled paragraphs, indented lines (examples, tables)
/// are kept as they are.
fn render_after_help(roff: &mut Roff, text: &str) {
    let mut section_open = false;
    let mut paragraph: Vec<&str> = Vec::new();
    let mut verbatim: Vec<&str> = Vec::new();
    let flush = |roff: &mut Roff, paragraph: &mut Vec<&str>, verbatim: &mut Vec<&str>| {
        if !paragraph.is_empty() {
            roff.control("PP", []);
            roff.text([roman(paragraph.join(" "))]);
            paragraph.clear();
        }
        if !verbatim.is_empty() {
            roff.control("PP", []);
            roff.control("nf", []);
            for line in verbatim.iter() {
                // The page indents already; drop the help text's own two.
                let line = line.strip_prefix("  ").unwrap_or(line);
                roff.text([roman(line)]);
            }
            roff.control("fi", []);
            verbatim.clear();
        }
    };
    for line in text.lines() {
        if let Some(heading) = heading(line) {
            flush(roff, &mut paragraph, &mut verbatim);
            roff.control("SH", [heading]);
            section_open = true;
            continue;
        }
        if !section_open && !line.trim().is_empty() {
            roff.control("SH", ["NOTES"]);
            section_open = true;
        }
        if line.trim().is_empty() {
            flush(roff, &mut paragraph, &mut verbatim);
        } else if line.starts_with(' ') {
            if !paragraph.is_empty() {
                flush(roff, &mut paragraph, &mut verbatim);
            }
            verbatim.push(line);
        } else {
            if !verbatim.is_empty() {
                flush(roff, &mut paragraph, &mut verbatim);
            }
            paragraph.push(line.trim_end());
        }
    }
    flush(roff, &mut paragraph, &mut verbatim);
}

/// "EXAMPLES:" -> "EXAMPLES", "IS IT WORKING?" -> itself: an unindented
/// line of capitals ending in ':' or '?'.
fn heading(line: &str) -> Option<&str> {
    let is_heading = !line.starts_with(' ')
        && (line.ends_with(':') || line.ends_with('?'))
        && line.chars().any(|c| c.is_ascii_uppercase())
        && line
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == ' ' || c == ':' || c == '?');
    is_heading.then(|| line.trim_end_matches(':'))
}

fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}
