//! Which process is ComfyUI (`trim --auto`): a pure decision over a process's
//! argument vector and working directory, so it is tested without processes.
//!
//! ComfyUI's server is a Python interpreter running the `main.py` at the root of a
//! ComfyUI checkout: `python main.py --listen` started from inside the checkout (the
//! usual launch: the path is only in the working directory), `python
//! /opt/ComfyUI/main.py`, the Windows portable build's `python_embeded\python.exe -s
//! ComfyUI\main.py --windows-standalone-build`, the desktop app's venv python on its
//! bundled `ComfyUI/main.py`, and the server that comfy-cli's `comfy launch` starts
//! (itself `python main.py` in the workspace; the `comfy` launcher holds no models
//! and is not matched). A non-Python process naming main.py (`tail -f
//! ComfyUI/main.py`, an editor) never matches.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use crate::model::Launch;
use crate::model::ProcessMemory;
use crate::units::format_bytes;

/// The last component of a path written with either separator.
fn base_name(p: &str) -> &str {
    p.rsplit(['/', '\\']).next().unwrap_or(p)
}

/// `python`, `python3`, `python3.11`, `python.exe`, `pythonw.exe`, `python3.12d`...
pub fn is_python(program: &str) -> bool {
    let name = base_name(program).to_ascii_lowercase();
    let name = name.strip_suffix(".exe").unwrap_or(&name);
    let Some(rest) = name.strip_prefix("python") else {
        return false;
    };
    let rest = rest.strip_suffix('w').unwrap_or(rest);
    let rest = rest.strip_suffix('d').unwrap_or(rest);
    rest.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// The script a Python command line runs, if it runs one (not `-c`, `-m` or a REPL).
pub fn python_script(argv: &[String]) -> Option<&str> {
    if !is_python(argv.first()?) {
        return None;
    }
    let mut args = argv[1..].iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-c" | "-m" | "-" => return None,
            // Options that take the next argument.
            "-W" | "-X" | "--check-hash-based-pycs" => {
                args.next();
            }
            s if s.starts_with("-c") || s.starts_with("-m") => return None,
            s if s.starts_with('-') => {}
            s => return Some(s),
        }
    }
    None
}

/// Cheap first test, before the working directory is read: a Python interpreter
/// running a script named main.py.
pub fn may_be_comfyui(argv: &[String]) -> bool {
    python_script(argv).is_some_and(|s| base_name(s).eq_ignore_ascii_case("main.py"))
}

/// Does `dir` hold a ComfyUI checkout (its `comfy` package and `nodes.py`)? None
/// when the directory cannot be examined (gone, or not ours to read).
pub fn is_comfyui_dir(dir: &Path) -> Option<bool> {
    std::fs::read_dir(dir).ok()?;
    Some(dir.join("comfy").is_dir() && dir.join("nodes.py").is_file())
}

/// [`is_comfyui_dir`] for a path as the process sees it: under `root` (its
/// /proc/PID/root) when given.
pub fn is_comfyui_dir_in(root: Option<&Path>, dir: &Path) -> Option<bool> {
    match root {
        Some(r) => is_comfyui_dir(&r.join(dir.strip_prefix("/").unwrap_or(dir))),
        None => is_comfyui_dir(dir),
    }
}

/// The ComfyUI main.py that `launch` runs, resolved against its working directory,
/// or None when it is not a ComfyUI server. `is_checkout` tells whether a directory
/// is a ComfyUI checkout ([`is_comfyui_dir`] on a live system), None when it cannot
/// be examined; only then (or without a working directory to resolve against) is a
/// path with a component named ComfyUI (any case) accepted instead. A directory
/// that was examined and is no checkout never matches, whatever its name
/// (`ComfyUI/custom_nodes/x/main.py`).
pub fn comfyui_main(
    launch: &Launch,
    is_checkout: &dyn Fn(&Path) -> Option<bool>,
) -> Option<PathBuf> {
    if !may_be_comfyui(&launch.argv) {
        return None;
    }
    let script = python_script(&launch.argv)?;
    let windows_abs = script.len() > 2 && script.as_bytes()[1] == b':';
    let path = if Path::new(script).is_absolute() || windows_abs {
        PathBuf::from(script)
    } else {
        match &launch.cwd {
            Some(cwd) => cwd.join(script),
            None => PathBuf::from(script),
        }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && (d.is_absolute() || windows_abs));
    match dir.and_then(is_checkout) {
        Some(true) => return Some(path),
        Some(false) => return None,
        None => {}
    }
    let named = path
        .to_string_lossy()
        .split(['/', '\\'])
        .any(|c| c.eq_ignore_ascii_case("comfyui"));
    named.then_some(path)
}

/// `trim --auto`: exactly one ComfyUI server among `found` (each with the main.py
/// it runs), or an error that lists what matched.
pub fn choose_one(mut found: Vec<(ProcessMemory, PathBuf)>) -> Result<ProcessMemory> {
    match found.len() {
        1 => Ok(found.remove(0).0),
        0 => Err(Error::Ambiguous(
            "--auto found no ComfyUI process (looked for a Python interpreter running the \
             main.py of a ComfyUI checkout, resolved against its working directory); pass \
             --pid N"
                .into(),
        )),
        n => Err(Error::Ambiguous(format!(
            "--auto found {n} ComfyUI processes; pass --pid with one of them:\n{}",
            found
                .iter()
                .map(|(p, main)| format!(
                    "  PID {:<8} {:>11}  {}  ({})",
                    p.pid,
                    format_bytes(p.rss_bytes),
                    main.display(),
                    p.cmdline
                ))
                .collect::<Vec<_>>()
                .join("\n")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(args: &[&str], cwd: Option<&str>) -> Launch {
        Launch {
            argv: args.iter().map(|s| s.to_string()).collect(),
            cwd: cwd.map(PathBuf::from),
            root: None,
        }
    }

    /// Stand-in for the file system: only /srv/app is a ComfyUI checkout, /opt and
    /// C: cannot be read, everything else can.
    fn checkout(d: &Path) -> Option<bool> {
        let s = d.to_string_lossy();
        if s.starts_with("/opt") || s.starts_with("C:") {
            return None;
        }
        Some(d == Path::new("/srv/app"))
    }

    #[test]
    fn interpreters() {
        for p in [
            "python",
            "python3",
            "/usr/bin/python3.11",
            "python.exe",
            r"C:\ComfyUI_windows_portable\python_embeded\python.exe",
            "pythonw.exe",
            "python3.12d",
        ] {
            assert!(is_python(p), "{p}");
        }
        for p in [
            "tail",
            "vim",
            "pythonista",
            "ipython",
            "python-config",
            "comfy",
        ] {
            assert!(!is_python(p), "{p}");
        }
    }

    // POSIX paths ("/srv/app" is relative on Windows, which joins with '\\').
    #[cfg(unix)]
    #[test]
    fn the_usual_launch_is_found_through_the_working_directory() {
        let l = launch(&["python", "main.py", "--listen"], Some("/srv/app"));
        assert_eq!(comfyui_main(&l, &checkout), Some("/srv/app/main.py".into()));
        // Same command in a directory that is not a checkout and not named ComfyUI.
        let l = launch(&["python", "main.py"], Some("/home/u/project"));
        assert_eq!(comfyui_main(&l, &checkout), None);
    }

    // POSIX paths ("/srv/app" is relative on Windows, which joins with '\\').
    #[cfg(unix)]
    #[test]
    fn paths_and_launchers() {
        let l = launch(
            &["/venv/bin/python3", "-u", "/opt/ComfyUI/main.py", "--cpu"],
            None,
        );
        assert!(comfyui_main(&l, &checkout).is_some());
        let l = launch(
            &["python3", "-X", "utf8", "../app/main.py"],
            Some("/srv/other"),
        );
        assert_eq!(
            comfyui_main(&l, &|d| Some(d == Path::new("/srv/other/../app"))),
            Some("/srv/other/../app/main.py".into())
        );
        let portable = launch(
            &[
                r".\python_embeded\python.exe",
                "-s",
                r"ComfyUI\main.py",
                "--windows-standalone-build",
            ],
            Some(r"C:\ComfyUI_windows_portable"),
        );
        assert!(comfyui_main(&portable, &checkout).is_some());
        let desktop = launch(
            &[
                "/home/u/Documents/ComfyUI/.venv/bin/python",
                "/opt/ComfyUI Desktop/resources/ComfyUI/main.py",
                "--user-directory",
                "/home/u/Documents/ComfyUI/user",
            ],
            None,
        );
        assert!(comfyui_main(&desktop, &checkout).is_some());
    }

    // POSIX paths ("/srv/app" is relative on Windows, which joins with '\\').
    #[cfg(unix)]
    #[test]
    fn an_examined_directory_that_is_no_checkout_never_matches_by_name() {
        // A custom node's own main.py inside a ComfyUI tree: readable, not a checkout.
        let l = launch(
            &["python3", "main.py"],
            Some("/srv/ComfyUI/custom_nodes/foo"),
        );
        assert_eq!(comfyui_main(&l, &checkout), None);
        // The same path, unreadable: the name is all there is to go by.
        let l = launch(
            &["python3", "main.py"],
            Some("/opt/ComfyUI/custom_nodes/foo"),
        );
        assert!(comfyui_main(&l, &checkout).is_some());
    }

    #[test]
    fn never_a_non_python_process_or_a_non_script_run() {
        for args in [
            &["tail", "-f", "/srv/app/main.py"][..],
            &["vim", "ComfyUI/main.py"],
            &["python", "-c", "import main", "ComfyUI/main.py"],
            &["python", "-m", "http.server", "ComfyUI/main.py"],
            &["python", "ComfyUI/server.py", "main.py"],
            &["/venv/bin/python", "/venv/bin/comfy", "launch"],
            &["python"],
            &[],
        ] {
            let l = launch(args, Some("/srv/app"));
            assert_eq!(comfyui_main(&l, &checkout), None, "{args:?}");
        }
    }

    #[test]
    fn auto_needs_exactly_one() {
        let p = |pid| ProcessMemory {
            pid,
            cmdline: "python main.py".into(),
            ..Default::default()
        };
        assert_eq!(
            choose_one(vec![(p(7), "/c/main.py".into())]).unwrap().pid,
            7
        );
        let none = choose_one(Vec::new()).unwrap_err();
        assert!(matches!(none, Error::Ambiguous(_)) && none.to_string().contains("found no"));
        let two = choose_one(vec![
            (p(7), "/a/main.py".into()),
            (p(9), "/b/main.py".into()),
        ]);
        let e = two.unwrap_err().to_string();
        assert!(
            e.contains("found 2") && e.contains("PID 7") && e.contains("/b/main.py"),
            "{e}"
        );
    }

    // POSIX paths under the process's root ("/srv/app").
    #[cfg(unix)]
    #[test]
    fn a_checkout_has_the_comfy_package_and_nodes_py() {
        let root =
            std::env::temp_dir().join(format!("memwarden-target-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let app = root.join("srv/app");
        std::fs::create_dir_all(app.join("comfy")).unwrap();
        // The package alone, or nodes.py alone, is no checkout.
        assert_eq!(is_comfyui_dir(&app), Some(false));
        std::fs::write(app.join("nodes.py"), "").unwrap();
        assert_eq!(is_comfyui_dir(&app), Some(true));
        std::fs::remove_dir(app.join("comfy")).unwrap();
        std::fs::write(app.join("comfy"), "").unwrap(); // a file named comfy
        assert_eq!(is_comfyui_dir(&app), Some(false));
        std::fs::remove_file(app.join("comfy")).unwrap();
        std::fs::create_dir(app.join("comfy")).unwrap();
        // A directory that is not there cannot be examined.
        assert_eq!(is_comfyui_dir(&root.join("gone")), None);
        // Seen through a process's root: the path is taken under it.
        assert_eq!(
            is_comfyui_dir_in(Some(&root), Path::new("/srv/app")),
            Some(true)
        );
        assert_eq!(
            is_comfyui_dir_in(Some(&root), Path::new("/srv")),
            Some(false)
        );
        assert_eq!(is_comfyui_dir_in(None, &app), Some(true));
        assert_eq!(
            is_comfyui_dir_in(None, Path::new("/srv/app-not-here")),
            None
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    // A Windows path seen from Linux (/proc of a Wine process, a test on a copy).
    #[cfg(unix)]
    #[test]
    fn a_windows_absolute_script_is_not_joined_to_the_working_directory() {
        let l = launch(&["python.exe", r"C:\ComfyUI\main.py"], Some("/home/u"));
        assert_eq!(
            comfyui_main(&l, &checkout),
            Some(PathBuf::from(r"C:\ComfyUI\main.py"))
        );
        // Named otherwise, nothing says it is ComfyUI.
        let l = launch(&["python.exe", r"D:\apps\main.py"], Some("/home/u"));
        assert_eq!(comfyui_main(&l, &checkout), None);
    }

    #[test]
    fn options_before_the_script() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            python_script(&argv(&["python", "-u", "-B", "main.py"])),
            Some("main.py")
        );
        // -W and -X take the next argument, which is not the script.
        assert_eq!(
            python_script(&argv(&["python", "-W", "ignore", "main.py"])),
            Some("main.py")
        );
        assert_eq!(
            python_script(&argv(&[
                "python",
                "--check-hash-based-pycs",
                "always",
                "a.py"
            ])),
            Some("a.py")
        );
        // -cCODE and -mMOD run no script.
        assert_eq!(
            python_script(&argv(&["python", "-cimport x", "main.py"])),
            None
        );
        assert_eq!(
            python_script(&argv(&["python", "-mhttp.server", "main.py"])),
            None
        );
        assert_eq!(python_script(&argv(&["python", "-", "main.py"])), None);
        assert_eq!(python_script(&argv(&["node", "main.py"])), None);
        assert!(may_be_comfyui(&argv(&["python", "/x/MAIN.PY"])));
        assert!(!may_be_comfyui(&argv(&["python", "/x/main.py.bak"])));
        assert_eq!(base_name(r"C:/c.py"), "c.py");
        assert_eq!(base_name("plain"), "plain");
    }

    #[test]
    fn several_found_are_listed_with_their_figures() {
        let p = |pid, rss| ProcessMemory {
            pid,
            rss_bytes: rss,
            cmdline: format!("python main.py --port {pid}"),
            ..Default::default()
        };
        let e = choose_one(vec![
            (p(7, 3 << 30), "/a/main.py".into()),
            (p(12345, 512 << 20), "/b/main.py".into()),
        ])
        .unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit_code::AMBIGUOUS);
        assert_eq!(
            e.to_string(),
            "--auto found 2 ComfyUI processes; pass --pid with one of them:\n  \
             PID 7           3.00 GiB  /a/main.py  (python main.py --port 7)\n  \
             PID 12345     512.00 MiB  /b/main.py  (python main.py --port 12345)"
        );
    }
}
