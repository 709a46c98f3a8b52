//! Identify the external helper that the pageout's fallback runs: the native
//! memwarden binary `MEMWARDEN_HELPER` names, checked before anything runs.

use std::path::{Path, PathBuf};

use crate::model::{HelperChoice, HelperProblem};

/// What `value` (the value of `MEMWARDEN_HELPER`; `~` is the user's home) names:
/// nothing set, an absolute path to an executable file, or what is wrong with it.
/// `home` is the user's home folder, for `~`.
pub fn helper_choice(value: &str, home: Option<&Path>) -> HelperChoice {
    if value.trim().is_empty() {
        return HelperChoice::Default;
    }
    let path = expand_home(value, home);
    match problem(&path) {
        None => HelperChoice::Binary {
            path: path.to_string_lossy().into_owned(),
        },
        Some(problem) => HelperChoice::Unusable {
            value: value.into(),
            problem,
        },
    }
}

/// `~` and `~/...` under `home`, as a shell would; anything else as it is.
fn expand_home(value: &str, home: Option<&Path>) -> PathBuf {
    match (value.strip_prefix('~'), home) {
        (Some(""), Some(h)) => h.to_path_buf(),
        (Some(rest), Some(h)) if rest.starts_with(['/', '\\']) => h.join(&rest[1..]),
        _ => PathBuf::from(value),
    }
}

fn problem(path: &Path) -> Option<HelperProblem> {
    if !path.is_absolute() {
        return Some(HelperProblem::NotAbsolute);
    }
    match std::fs::metadata(path) {
        Err(_) => Some(HelperProblem::Missing),
        Ok(m) if !m.is_file() => Some(HelperProblem::NotAFile),
        Ok(_) if !executable(path) => Some(HelperProblem::NotExecutable),
        Ok(_) => None,
    }
}

#[cfg(unix)]
fn executable(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_ok()
}

/// Windows runs any file it can open as a program (by its extension), as
/// Python's `os.access(path, os.X_OK)` says there.
#[cfg(not(unix))]
fn executable(_path: &Path) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_the_default_helper() {
        assert_eq!(helper_choice("", None), HelperChoice::Default);
        assert_eq!(helper_choice("  ", None), HelperChoice::Default);
    }

    #[cfg(unix)]
    #[test]
    fn a_path_must_name_an_executable_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("mw-helper-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("memwarden");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        let unusable = |value: &str, problem| HelperChoice::Unusable {
            value: value.into(),
            problem,
        };
        let s = |p: &Path| p.to_string_lossy().into_owned();
        assert_eq!(
            helper_choice(&s(&bin), None),
            unusable(&s(&bin), HelperProblem::NotExecutable)
        );
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            helper_choice(&s(&bin), None),
            HelperChoice::Binary { path: s(&bin) }
        );
        assert_eq!(
            helper_choice("~/memwarden", Some(&dir)),
            HelperChoice::Binary { path: s(&bin) }
        );
        assert_eq!(
            helper_choice(&s(&dir), None),
            unusable(&s(&dir), HelperProblem::NotAFile)
        );
        assert_eq!(
            helper_choice("~", Some(&dir)),
            unusable("~", HelperProblem::NotAFile)
        );
        let gone = s(&dir.join("gone"));
        assert_eq!(
            helper_choice(&gone, None),
            unusable(&gone, HelperProblem::Missing)
        );
        assert_eq!(
            helper_choice("bin/memwarden", None),
            unusable("bin/memwarden", HelperProblem::NotAbsolute)
        );
        assert_eq!(
            helper_choice("~/memwarden", None),
            unusable("~/memwarden", HelperProblem::NotAbsolute)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
