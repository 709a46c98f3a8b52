//! JSON Schema of every `--json` output, generated from the model structs so the
//! documentation cannot drift from the code (a test compares docs/schema/).

use schemars::schema::RootSchema;
use schemars::schema_for;

use crate::model::*;

/// Names accepted by `memwarden schema NAME`, with the command that prints each.
pub const SCHEMAS: [(&str, &str); 7] = [
    ("snapshot", "check --json"),
    ("status", "status --json"),
    ("pageout-report", "trim --json"),
    ("purge-report", "purge-cache --json"),
    ("reclaim-report", "reclaim --json"),
    ("heap-trim-report", "library: actions::trim_own_heap"),
    ("error", "any command with --json, on failure"),
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
        _ => return None,
    })
}

/// Pretty JSON text of a schema, with a trailing newline (as committed in docs/).
pub fn schema_json(name: &str) -> Option<String> {
    schema(name).map(|s| serde_json::to_string_pretty(&s).expect("schema serializes") + "\n")
}
