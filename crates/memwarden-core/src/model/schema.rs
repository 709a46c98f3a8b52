//! JSON Schema of every `--json` output, generated from the model structs so the
//! documentation cannot drift from the code (a test compares docs/schema/).

use schemars::schema::RootSchema;
use schemars::schema_for;

use crate::model::*;

/// Names accepted by `memwarden schema NAME`, with the command that prints each.
pub const SCHEMAS: [(&str, &str); 8] = [
    ("snapshot", "check --json"),
    ("status", "status --json"),
    ("pageout-report", "trim --json"),
    ("purge-report", "purge-cache --json"),
    ("reclaim-report", "reclaim --json"),
    ("heap-trim-report", "library: actions::trim_own_heap"),
    ("error", "any command with --json, on failure"),
    (
        "manager-action",
        "history --json (a list of them; one per line of the history file)",
    ),
];

pub fn schema(name: &str) -> Option<RootSchema> {
    Some(match name {
        "snapshot" => schema_for!(Snapshot),
        "status" => schema_for!(StatusLine),
        "pageout-report" => schema_for!(PageoutReport),
        "purge-report" => schema_for!(PurgeReport),
        "reclaim-report" => schema_for!(ReclaimReport),
        "heap-trim-report" => schema_for!(HeapTrimReport),
        "error" => schema_for!(ErrorReport),
        "manager-action" => schema_for!(ManagerAction),
        _ => return None,
    })
}

/// Pretty JSON text of a schema, with a trailing newline (as committed in docs/).
pub fn schema_json(name: &str) -> Option<String> {
    schema(name).map(|s| serde_json::to_string_pretty(&s).expect("schema serializes") + "\n")
}

fn type_name(v: &serde_json::Value) -> String {
    use serde_json::Value;
    let refname = |r: &str| r.rsplit('/').next().unwrap_or(r).to_string();
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        return refname(r);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = v.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = list.iter().map(type_name).collect();
            return parts.join(" or ");
        }
    }
    if let Some(e) = v.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" \\| ");
    }
    let base = match v.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    };
    match v.get("items") {
        Some(items) => base.replace("array", &format!("array of {}", type_name(items))),
        None => base,
    }
}

fn table(out: &mut String, title: &str, obj: &serde_json::Value) {
    use std::fmt::Write;
    let _ = writeln!(out, "### {title}\n");
    if let Some(d) = obj.get("description").and_then(|d| d.as_str()) {
        let _ = writeln!(out, "{}\n", d.replace('\n', " "));
    }
    if let Some(props) = obj.get("properties").and_then(|p| p.as_object()) {
        let _ = writeln!(out, "| field | type | meaning |\n|---|---|---|");
        for (name, p) in props {
            let desc = p
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .replace('\n', " ")
                .replace('|', "\\|");
            let _ = writeln!(
                out,
                "| `{name}` | {} | {desc} |",
                type_name(p).replace('|', "\\|")
            );
        }
        out.push('\n');
    } else if let Some(alts) = obj.get("oneOf").and_then(|a| a.as_array()) {
        one_of(out, alts);
    } else if let Some(alts) = obj.get("enum") {
        let _ = writeln!(
            out,
            "One of: {}\n",
            type_name(&serde_json::json!({ "enum": alts }))
        );
    }
}

/// An enum whose variants carry docs (a `oneOf`): plain values in one line, or
/// objects told apart by their `kind`, one row each with its own fields.
fn one_of(out: &mut String, alts: &[serde_json::Value]) {
    use std::fmt::Write;
    let kind = |a: &serde_json::Value| a.pointer("/properties/kind/enum/0").cloned();
    if alts.iter().all(|a| kind(a).is_some()) {
        let _ = writeln!(
            out,
            "An object told apart by `kind`:\n\n| `kind` | other fields | meaning |\n|---|---|---|"
        );
        for a in alts {
            let fields: Vec<String> = a["properties"]
                .as_object()
                .map(|p| {
                    p.iter()
                        .filter(|(name, _)| *name != "kind")
                        .map(|(name, v)| format!("`{name}` ({})", type_name(v)))
                        .collect()
                })
                .unwrap_or_default();
            let desc = a["description"].as_str().unwrap_or("").replace('\n', " ");
            let _ = writeln!(
                out,
                "| {} | {} | {desc} |",
                kind(a).unwrap_or_default(),
                fields.join(", ")
            );
        }
        out.push('\n');
    } else {
        let values: Vec<serde_json::Value> = alts
            .iter()
            .flat_map(|a| match a.get("enum").and_then(|e| e.as_array()) {
                Some(e) => e.clone(),
                None => vec![serde_json::Value::String(type_name(a))],
            })
            .collect();
        let _ = writeln!(
            out,
            "One of: {}\n",
            type_name(&serde_json::json!({ "enum": values }))
        );
    }
}

/// docs/json-schema.md, generated from the same schemas (doc comments included).
pub fn markdown() -> String {
    use std::fmt::Write;
    let mut out = format!(
        "# JSON output schema\n\n\
         <!-- Generated by memwarden_core::schema::markdown(); regenerate with\n     \
         MEMWARDEN_BLESS=1 cargo test -p memwarden-core --test schema_docs -->\n\n\
         Every `--json` output carries `schema_version` (now {SCHEMA_VERSION}). Adding a\n\
         field is a compatible change that keeps the version; renaming, removing or\n\
         changing the meaning of a field bumps it. Version 2: `trim`'s `guard` became\n\
         `swap_check` (the swap check's finding with its figures) and the error kind\n\
         `guard_refused` became `swap_refused`, its error object carrying the verdict.\n\
         Sizes are bytes (`*_bytes`), durations say their unit (`*_ms`, `*_us`),\n\
         percentages are 0-100. `null` means \"not known here\"\n\
         (e.g. USS without `--uss`, a cgroup without a limit). The machine-readable\n\
         JSON Schemas are in [schema/](schema/) and printed by `memwarden schema NAME`.\n\n\
         | schema | printed by |\n|---|---|\n",
    );
    for (name, by) in SCHEMAS {
        let _ = writeln!(out, "| [`{name}`](schema/{name}.json) | `{by}` |");
    }
    out.push('\n');
    let mut seen = std::collections::BTreeMap::new();
    for (name, _) in SCHEMAS {
        let v = serde_json::to_value(schema(name).expect("listed schema")).expect("schema to json");
        let _ = writeln!(out, "## `{name}`\n");
        table(&mut out, v["title"].as_str().unwrap_or(name), &v);
        if let Some(defs) = v.get("definitions").and_then(|d| d.as_object()) {
            for (k, d) in defs {
                seen.entry(k.clone()).or_insert_with(|| d.clone());
            }
        }
    }
    let _ = writeln!(out, "## Nested types\n");
    for (k, d) in &seen {
        table(&mut out, k, d);
    }
    out
}
