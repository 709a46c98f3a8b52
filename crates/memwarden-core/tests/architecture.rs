//! The layers of the core and what each may use (docs/architecture.md draws them):
//! a module that reaches a layer above its own fails this test, naming the file,
//! the line and the rule. The rule is written here once; the doc points at it.
//!
//! A layer is the first component under `src/` (`probe/cgroup/linux.rs` is in
//! `probe`); `crate::X` in a file's code (tests excluded) is a use of layer `X`.

use std::path::{Path, PathBuf};

/// Each layer and the layers it may use, from the ground up.
const LAYERS: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("error", &["model"]),
    ("units", &["error"]),
    ("parse", &["model", "error", "units"]),
    ("history", &["model", "error", "sys"]),
    ("sys", &["model", "parse", "error", "units"]),
    ("probe", &["model", "parse", "sys", "error", "units"]),
    ("policy", &["model", "parse", "error", "units"]),
    ("render", &["model", "policy", "error", "units"]),
    (
        "watch",
        &["model", "probe", "policy", "sys", "error", "units"],
    ),
    ("snapshot", &["model", "probe", "policy", "error", "units"]),
    (
        "act",
        &[
            "model", "probe", "policy", "render", "sys", "parse", "error", "units",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file's code without its unit tests (`#[cfg(test)]` to the end of the file,
/// or of the `mod tests` block that follows it).
fn code(text: &str) -> &str {
    match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// Every layer `line` names as `crate::X`.
fn used(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: &str = rest
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        out.push(name);
    }
    out
}

#[test]
fn no_layer_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut broken = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let layer = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs");
        if layer == "lib" {
            continue; // the crate's face names every layer
        }
        let allowed = LAYERS
            .iter()
            .find(|(l, _)| *l == layer)
            .unwrap_or_else(|| panic!("{} is in no layer of LAYERS: add it", rel.display()))
            .1;
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in code(&text).lines().enumerate() {
            let l = line.trim_start();
            if l.starts_with("//") {
                continue;
            }
            for u in used(line) {
                checked += 1;
                // The crate's re-exports at its root are the model's and error's.
                let u = match u {
                    "Error" | "Result" => "error",
                    other => other,
                };
                if u != layer && !allowed.contains(&u) {
                    broken.push(format!(
                        "{}:{}: {layer} uses {u} (it may use {allowed:?}): {}",
                        rel.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} uses found: the scan is broken"
    );
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_scan_finds_a_use_up_a_layer() {
    assert_eq!(used("use crate::policy::headroom::binding;"), ["policy"]);
    assert_eq!(
        used("let x = crate::units::format_bytes(crate::model::X);"),
        ["units", "model"]
    );
    assert_eq!(
        code("use crate::model;\n#[cfg(test)]\nmod tests { use crate::act; }"),
        "use crate::model;\n"
    );
}
