//! Operations: `doctor` against the simulator, completions and the man page, and the words a
//! person meets at either end: usage hints, help that covers every command, the export's
//! byte-order mark, the first error alone, how an interrupted run goes on, plurals.

use crate::common::*;
use checkuser::sandbox::Faults;
use checkuser::store::RunLock;

fn doctor(sim: &Sim, fx: &Fixture, extra: &[&str]) -> (Option<i32>, String) {
    let id = &sim.sandbox.identity;
    let out = bin(fx.dir.path())
        .env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .args([
            "doctor",
            "--endpoint",
            &sim.sandbox.endpoint(),
            "--partner-id",
            &id.partner_id,
        ])
        .arg("--state")
        .arg(fx.state())
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn doctor_passes_a_good_setup_without_spending_a_check() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let (code, text) = doctor(&sim, &fx, &[]);
    assert_eq!(code, Some(0), "{text}");
    for what in [
        "credentials",
        "partner id",
        "endpoint",
        "clock",
        "state store",
        "run lock",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("ok") && l.contains(what)),
            "{what}: {text}"
        );
    }
    assert!(
        text.contains("SAND…0001") && !text.contains(&sim.sandbox.identity.sk),
        "AK masked, SK absent"
    );
    assert_eq!(sim.requests(), 0, "no check request spent");
}

#[test]
fn doctor_finds_a_skewed_clock_a_held_lock_and_missing_credentials() {
    let sim = Sim::start(Faults {
        clock_offset_secs: 30 * 60,
        ..no_faults()
    });
    let fx = Fixture::new();
    let scope = sim.scope();
    let _held = RunLock::acquire(&fx.state(), &scope, false).unwrap();
    let (code, text) = doctor(&sim, &fx, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("clock") && l.contains("behind")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("warn") && l.contains("run lock") && l.contains("pid")),
        "{text}"
    );
    let out = bin(fx.dir.path())
        .args(["doctor", "--endpoint", &sim.sandbox.endpoint()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("credentials")),
        "{text}"
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let fx = Fixture::new();
    let out = run(fx.dir.path(), &["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("--max-attempts") && script.contains("doctor"));
    let out = run(fx.dir.path(), &["man"]);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") && page.contains(".TH checkuser 1"),
        "{page}"
    );
}

#[test]
fn state_and_doctor_look_at_the_sandbox_store_with_sandbox() {
    let fx = Fixture::new();
    let home = fx.dir.path();
    let stores = home.join(".local/state/checkuser");
    let (real, sandbox) = (stores.join("state.sqlite"), stores.join("sandbox.sqlite"));
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let out = run(
        home,
        &[
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--throttle",
            "0",
            "-q",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(sandbox.exists() && !real.exists());

    let out = run(home, &["state", "stats", "--sandbox"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 answers"), "{text}");
    let out = run(home, &["state", "--sandbox", "export"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1 + 3);
    let out = run(home, &["state", "prune", "--sandbox", "--older-than", "1d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(home, &["state", "stats"]);
    assert_eq!(out.status.code(), Some(2), "the real store does not exist");

    let out = run(home, &["doctor", "--sandbox"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.lines().any(|l| l.starts_with("ok")
            && l.contains("state store")
            && l.contains("sandbox.sqlite")),
        "{text}"
    );
    assert!(
        !real.exists(),
        "doctor --sandbox leaves the real store alone"
    );
}

#[test]
fn doctor_creates_no_store() {
    let fx = Fixture::new();
    let out = run(fx.dir.path(), &["doctor", "--sandbox"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok") && l.contains("state store")),
        "{text}"
    );
    let stores = fx.dir.path().join(".local/state/checkuser");
    for name in ["state.sqlite", "sandbox.sqlite"] {
        assert!(!stores.join(name).exists(), "{name} created by doctor");
    }
}

/// Commands that only print end quietly when their reader goes away (`| head -1`), instead of
/// panicking (exit 101) in the middle of a line.
#[test]
fn a_closed_standard_output_ends_printing_commands_quietly() {
    let fx = Fixture::new();
    let store = fx.state();
    drop(checkuser::store::open_admin(&checkuser::store::Location::File(store.clone())).unwrap());
    let store = store.to_str().unwrap();
    let stats = ["state", "--state", store, "stats"];
    for args in [&stats[..], &["completions", "bash"][..], &["man"][..]] {
        let mut child = bin(fx.dir.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_ne!(out.status.code(), Some(101), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

/// A lead list where a command is expected is a usage error (exit 2) that keeps clap's message
/// and says how to check the list.
#[test]
fn a_file_given_where_a_command_is_expected_points_to_run() {
    let fx = Fixture::new();
    fx.file("leads.csv", email_csv(&emails(1)));
    for (args, hint) in [
        (&["leads.csv"][..], "checkuser run leads.csv"),
        (
            &["leads.csv", "--check", "email=E-Mail"][..],
            "checkuser run leads.csv --check email=E-Mail",
        ),
        (
            &["-v", "new leads.csv"][..],
            "checkuser -v run 'new leads.csv'",
        ),
    ] {
        let out = bin(fx.dir.path())
            .current_dir(fx.dir.path())
            .args(args)
            .output()
            .unwrap();
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(text.contains("unrecognized subcommand"), "{text}");
        assert!(text.contains(hint), "{args:?}: {text}");
    }
    // A typo of a command keeps clap's own suggestion, with no word of a list.
    let out = run(fx.dir.path(), &["stat"]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(!text.contains("checkuser run"), "{text}");
}

/// Every command, nested ones included: its parent's help names it, each of its options says
/// what it does, and `--help` and `man` cover it.
#[test]
fn help_and_man_pages_cover_every_subcommand() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: Vec<String>, all: &mut Vec<(Vec<String>, clap::Command)>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk(sub, p.clone(), all);
            all.push((p, sub.clone()));
        }
    }
    let mut top = checkuser::cli::Cli::command();
    top.build();
    let mut all = Vec::new();
    walk(&top, Vec::new(), &mut all);
    assert!(all.iter().any(|(p, _)| p == &["state", "copy"]), "{all:?}");
    let fx = Fixture::new();
    let top_help = String::from_utf8_lossy(&run(fx.dir.path(), &["--help"]).stdout).into_owned();
    for (path, cmd) in &all {
        let name = path.join(" ");
        let subs: Vec<&str> = cmd
            .get_subcommands()
            .map(|s| s.get_name())
            .filter(|n| *n != "help")
            .collect();
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        for sub in &subs {
            assert!(about.contains(sub), "'{name}' does not name {sub}: {about}");
        }
        if path.len() == 1 && !subs.is_empty() {
            // The entry of this command in checkuser --help, up to the next command.
            let entry: String = top_help
                .lines()
                .skip_while(|l| !l.starts_with(&format!("  {name} ")))
                .enumerate()
                .take_while(|(i, l)| *i == 0 || l.starts_with("   "))
                .map(|(_, l)| l.to_string() + "\n")
                .collect();
            for sub in &subs {
                assert!(entry.contains(sub), "checkuser --help: {name}: {entry}");
            }
        }
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            assert!(
                arg.get_help().is_some() || arg.get_long_help().is_some(),
                "'{name}': {} has no description",
                arg.get_id()
            );
        }
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = run(fx.dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name} --help: {}",
            stderr(&out)
        );
        let mut args = vec!["man"];
        args.extend(path.iter().map(String::as_str));
        let out = run(fx.dir.path(), &args);
        let page = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "man {name}: {}", stderr(&out));
        let title = format!(".TH checkuser-{} 1", path.join("-"));
        assert!(page.contains(&title), "man {name}: {page}");
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long() {
                let roff = long.replace('-', "\\-");
                assert!(page.contains(&roff), "man {name} leaves out --{long}");
            }
        }
    }
}

/// `state export` follows the output's rule: a byte-order mark on a file, none on a pipe, and
/// --bom / --no-bom as for run's output.
#[test]
fn state_export_has_a_byte_order_mark_on_a_file_and_none_on_a_pipe() {
    let fx = Fixture::new();
    let home = fx.dir.path();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let out = run(
        home,
        &[
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--throttle",
            "0",
            "-q",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let file = fx.path("answers.csv");
    let export = |extra: &[&str]| {
        let mut args = vec!["state", "--sandbox", "export"];
        args.extend(extra);
        let out = run(home, &args);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", stderr(&out));
        out.stdout
    };
    let bom = b"\xEF\xBB\xBF";
    export(&["-o", file.to_str().unwrap()]);
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(bom), "{:?}", &bytes[..8]);
    assert_eq!(String::from_utf8_lossy(&bytes).lines().count(), 1 + 2);
    let piped = export(&[]);
    assert!(!piped.starts_with(bom) && !piped.is_empty());
    assert!(export(&["--bom"]).starts_with(bom));
    export(&["-o", file.to_str().unwrap(), "--no-bom"]);
    assert!(!std::fs::read(&file).unwrap().starts_with(bom));
}

/// A missing input: the error says so first, alone, whatever the command.
#[test]
fn a_missing_input_is_the_first_and_only_word() {
    let fx = Fixture::new();
    let missing = fx.path("nope.csv");
    for command in ["run", "plan", "validate"] {
        let out = run(
            fx.dir.path(),
            &[command, missing.to_str().unwrap(), "--sandbox"]
                [..if command == "validate" { 2 } else { 3 }],
        );
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {text}");
        let first = text.lines().next().unwrap_or("");
        assert!(
            first.starts_with("checkuser: error: cannot open input") && first.contains("nope.csv"),
            "{command}: {text}"
        );
        assert_eq!(text.lines().count(), 1, "{command}: {text}");
    }
}

/// An interrupted run says that the same command goes on where it stopped.
#[test]
fn an_interrupted_run_says_how_to_go_on() {
    let sim = Sim::start(Faults {
        latency: std::time::Duration::from_millis(200),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(50)));
    let cmd = sim.run_cmd(&fx, &input, &["--concurrency", "1", "--rate", "5"]);
    let out = signalled(cmd, std::time::Duration::from_millis(1500), libc::SIGTERM);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{text}");
    assert!(
        text.contains("run the same command again to go on where it stopped"),
        "{text}"
    );
    // A run that finished says nothing of the kind.
    let out = sim.run_expect(&fx, &input, &[], 0);
    assert!(!stderr(&out).contains("run the same command again"));
}

/// One of a thing is one thing: counts printed with a noun agree with it.
#[test]
fn counts_of_one_are_singular() {
    let fx = Fixture::new();
    let home = fx.dir.path();
    let input = fx.file("one.csv", email_csv(&emails(1)));
    let out = run(
        home,
        &[
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--throttle",
            "0",
        ],
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("1 row, 1 check in"), "{text}");
    let out = run(home, &["plan", input.to_str().unwrap(), "--sandbox"]);
    let text = stderr(&out);
    assert!(text.contains("1 value answered from the store;"), "{text}");
    let out = run(home, &["state", "stats", "--sandbox"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 answer, oldest"), "{text}");
    let other = fx.path("other.sqlite");
    let sandbox = home.join(".local/state/checkuser/sandbox.sqlite");
    let out = run(
        home,
        &[
            "state",
            "copy",
            "--from",
            sandbox.to_str().unwrap(),
            "--to",
            other.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("copied 1 answer from"),
        "{text}{}",
        stderr(&out)
    );
    let bad = fx.file("bad.csv", "a,b\nx,y\n");
    let out = run(
        home,
        &["validate", bad.to_str().unwrap(), "--check", "email=#3"],
    );
    let text = stderr(&out);
    assert!(text.contains("the header has 2 columns"), "{text}");
    let narrow = fx.file("narrow.csv", "a\nx\n");
    let out = run(
        home,
        &["validate", narrow.to_str().unwrap(), "--check", "email=#2"],
    );
    let text = stderr(&out);
    assert!(
        text.contains("the header has 1 column") && !text.contains("1 columns"),
        "{text}"
    );
}

/// Every file in a folder (and below it) with its size and modification time.
fn listing(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        if m.is_dir() {
            all.extend(listing(&e.path()));
        } else {
            all.push((e.path(), m.len(), m.modified().unwrap()));
        }
    }
    all.sort();
    all
}

/// A `run` command line becomes a `doctor` one by changing the word and dropping INPUT. Without
/// credentials doctor still checks the store (and says that the credentials are missing, on a
/// line of its own), and it leaves every file as it found it: no journal, no lock, no schema.
#[test]
fn doctor_takes_a_run_line_checks_the_store_without_credentials_and_changes_nothing() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    sim.run_expect(&fx, &input, &[], 0);
    let state = fx.state();
    let flags = [
        "--endpoint",
        &sim.sandbox.endpoint(),
        "--partner-id",
        &sim.sandbox.identity.partner_id,
        "--state",
        state.to_str().unwrap(),
        "--rate",
        "2.5",
        "--timeout",
        "5s",
        "--concurrency",
        "2",
        "--max-attempts",
        "3",
        "--max-age",
        "1h",
        "--wait-lock",
        "--deadline",
        "8h",
        "--check",
        "email=searchKey",
        "-o",
        "out.xlsx",
        "--summary-json",
        "s.json",
        "--changes",
        "changes.csv",
    ];
    let before = listing(fx.dir.path());
    let out = bin(fx.dir.path())
        .current_dir(fx.dir.path())
        .arg("doctor")
        .args(flags)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    let line = |level: &str, what: &str| {
        text.lines()
            .any(|l| l.starts_with(level) && l.contains(what))
    };
    assert!(line("FAIL", "credentials"), "{text}");
    assert!(
        line("ok", "state store") && text.contains("schema 3"),
        "{text}"
    );
    assert!(line("ok", "run lock"), "{text}");
    assert!(line("ok", "endpoint"), "{text}");
    assert_eq!(
        listing(fx.dir.path()),
        before,
        "doctor changed files: {text}"
    );
    // A store not made yet stays unmade, its folder too.
    let new = fx.path("new/state.sqlite");
    let out = bin(fx.dir.path())
        .args(["doctor", "--endpoint", &sim.sandbox.endpoint(), "--state"])
        .arg(&new)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(line_of(&text, "state store").contains("none yet"), "{text}");
    assert!(!fx.path("new").exists(), "{text}");
    assert_eq!(sim.requests(), 3, "doctor sends no check");
}

fn line_of<'a>(text: &'a str, what: &str) -> &'a str {
    text.lines().find(|l| l.contains(what)).unwrap_or("")
}
