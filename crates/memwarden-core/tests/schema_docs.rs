//! The committed JSON Schemas (docs/schema/*.json) are exactly what the model
//! generates. Regenerate with `MEMWARDEN_BLESS=1 cargo test --test schema_docs`.

use std::path::PathBuf;

#[test]
fn committed_schemas_match_the_model() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema");
    let bless = std::env::var_os("MEMWARDEN_BLESS").is_some();
    for (name, _) in memwarden_core::schema::SCHEMAS {
        let generated = memwarden_core::schema::schema_json(name).unwrap();
        let path = dir.join(format!("{name}.json"));
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with MEMWARDEN_BLESS=1 to create it)",
                path.display()
            )
        });
        assert_eq!(
            committed,
            generated,
            "{} is stale: run MEMWARDEN_BLESS=1 cargo test --test schema_docs",
            path.display()
        );
        let v: serde_json::Value = serde_json::from_str(&committed).unwrap();
        assert!(v["title"].is_string());
    }
}

#[test]
fn committed_markdown_matches_the_model() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/json-schema.md");
    let generated = memwarden_core::schema::markdown();
    if std::env::var_os("MEMWARDEN_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/json-schema.md is stale: run MEMWARDEN_BLESS=1 cargo test --test schema_docs"
    );
    assert!(committed.contains("| `limit_bytes` |"));
}

#[test]
fn a_real_snapshot_validates_against_its_shape() {
    // Every top-level property the schema requires is present in a real snapshot.
    let schema: serde_json::Value =
        serde_json::from_str(&memwarden_core::schema::schema_json("snapshot").unwrap()).unwrap();
    let snap = memwarden_core::collect(&memwarden_core::SnapshotOptions {
        gpu: false,
        ..Default::default()
    })
    .unwrap();
    let v = serde_json::to_value(&snap).unwrap();
    for req in schema["required"].as_array().unwrap() {
        assert!(v.get(req.as_str().unwrap()).is_some(), "missing {req}");
    }
    assert_eq!(v["schema_version"], memwarden_core::SCHEMA_VERSION);
}
