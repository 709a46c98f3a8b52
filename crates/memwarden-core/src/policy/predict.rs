//! What loading a model file will take in RAM, before a byte of it is loaded.
//!
//! In order of trust: what the same file took when it was last loaded here (the
//! per-node-type history), else its tensors (from the safetensors header) at the
//! dtype each part is loaded at in RAM (ComfyUI's own choice for the load device:
//! a diffusion model on the CPU is upcast to fp32, a text encoder stays fp16; a
//! part that goes to VRAM takes no RAM), else, for a file without a header
//! (`.ckpt`, `.pt`), twice its size: `torch.load` reads it whole, then the model
//! is built beside it.

use crate::model::{Component, ComponentNeed, LoadPrediction};
use crate::parse::safetensors::TensorInfo;
use crate::units::format_bytes;

/// What is known about one load.
#[derive(Debug, Clone)]
pub struct LoadFacts<'a> {
    /// The file's name, for the reason.
    pub file: &'a str,
    pub file_bytes: u64,
    /// Its tensors, when it has a safetensors header.
    pub tensors: Option<&'a [TensorInfo]>,
    /// What a tensor whose name has no known prefix belongs to (what the loader
    /// loads: a VAE loader's file holds a VAE).
    pub default_component: Component,
    /// Bytes per parameter each part is loaded at in RAM: 0 when it goes to VRAM;
    /// a part not listed keeps its file dtype.
    pub itemsize: &'a [(Component, u32)],
    /// RAM the same file took the last time it was loaded here, measured.
    pub measured_bytes: Option<u64>,
}

/// The part of a checkpoint a tensor belongs to, by its name's prefix (the key
/// layouts of single-file checkpoints), else `default`.
pub fn component_of(name: &str, default: Component) -> Component {
    const PREFIXES: [(&str, Component); 11] = [
        ("model.diffusion_model.", Component::Diffusion),
        ("diffusion_model.", Component::Diffusion),
        ("cond_stage_model.", Component::TextEncoder),
        ("conditioner.", Component::TextEncoder),
        ("text_encoders.", Component::TextEncoder),
        ("clip_l.", Component::TextEncoder),
        ("clip_g.", Component::TextEncoder),
        ("t5xxl.", Component::TextEncoder),
        ("first_stage_model.", Component::Vae),
        ("vae.", Component::Vae),
        ("embedder.", Component::TextEncoder),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map_or(default, |(_, c)| *c)
}

/// Every part's parameters and bytes at its load dtype, in a fixed order.
fn parts(tensors: &[TensorInfo], f: &LoadFacts<'_>) -> Vec<ComponentNeed> {
    let order = [
        Component::Diffusion,
        Component::TextEncoder,
        Component::Vae,
        Component::Other,
    ];
    let mut out: Vec<ComponentNeed> = Vec::new();
    for c in order {
        let itemsize = f.itemsize.iter().find(|(k, _)| *k == c).map(|(_, s)| *s);
        let mut need = ComponentNeed {
            component: c,
            params: 0,
            load_itemsize: itemsize.unwrap_or(0),
            bytes: 0,
        };
        let mut any = false;
        for t in tensors
            .iter()
            .filter(|t| component_of(&t.name, f.default_component) == c)
        {
            any = true;
            if t.is_float() {
                need.params += t.numel;
                need.bytes += match itemsize {
                    Some(s) => t.numel.saturating_mul(u64::from(s)),
                    None => t.bytes,
                };
            } else {
                need.bytes += t.bytes;
            }
        }
        if any {
            if itemsize.is_none() && need.params > 0 {
                // Kept at the file's dtype: say what that is on average.
                need.load_itemsize = (need.bytes / need.params.max(1)) as u32;
            }
            out.push(need);
        }
    }
    out
}

/// The prediction for `f`, with how it was reached.
pub fn predict(f: &LoadFacts<'_>) -> LoadPrediction {
    let parts = f.tensors.map(|t| parts(t, f)).unwrap_or_default();
    if let Some(m) = f.measured_bytes {
        return LoadPrediction {
            bytes: m,
            source: "history".into(),
            reason: format!(
                "{} took {} of RAM when it was last loaded here",
                f.file,
                format_bytes(m)
            ),
            parts,
        };
    }
    if f.tensors.is_some() {
        let bytes = parts.iter().map(|p| p.bytes).sum();
        let words: Vec<String> = parts
            .iter()
            .map(|p| {
                if p.load_itemsize == 0 && p.params > 0 {
                    format!("{} {} (to VRAM)", p.component.word(), format_bytes(0))
                } else {
                    format!(
                        "{} {} ({:.0} M parameters x {} B)",
                        p.component.word(),
                        format_bytes(p.bytes),
                        p.params as f64 / 1e6,
                        p.load_itemsize
                    )
                }
            })
            .collect();
        return LoadPrediction {
            bytes,
            source: "header".into(),
            reason: format!(
                "{}: {} in RAM at the dtype each part is loaded at: {}",
                f.file,
                format_bytes(bytes),
                words.join(", ")
            ),
            parts,
        };
    }
    let bytes = f.file_bytes.saturating_mul(2);
    LoadPrediction {
        bytes,
        source: "file_size".into(),
        reason: format!(
            "{} has no safetensors header: twice its size {} (read whole, then the model built beside it)",
            f.file,
            format_bytes(f.file_bytes)
        ),
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, dtype: &str, numel: u64) -> TensorInfo {
        let size = match dtype {
            "F32" | "I32" => 4,
            "I64" => 8,
            _ => 2,
        };
        TensorInfo {
            name: name.into(),
            dtype: dtype.into(),
            numel,
            bytes: numel * size,
        }
    }

    /// SD1.5 in fp16 (the part sizes of the real checkpoint), loaded on the CPU as
    /// ComfyUI does: UNet and VAE at fp32, the text encoder kept at fp16.
    #[test]
    fn sd15_on_cpu_counts_each_part_at_its_load_dtype() {
        let tensors = [
            t("model.diffusion_model.w", "F16", 859_520_964),
            t("cond_stage_model.transformer.w", "F16", 123_060_480),
            t("cond_stage_model.transformer.position_ids", "I64", 77),
            t("first_stage_model.w", "F16", 83_653_863),
        ];
        let f = LoadFacts {
            file: "sd15.safetensors",
            file_bytes: 2_132_625_894,
            tensors: Some(&tensors),
            default_component: Component::Other,
            itemsize: &[
                (Component::Diffusion, 4),
                (Component::TextEncoder, 2),
                (Component::Vae, 4),
            ],
            measured_bytes: None,
        };
        let p = predict(&f);
        assert_eq!(p.source, "header");
        assert_eq!(
            p.bytes,
            859_520_964 * 4 + 123_060_480 * 2 + 77 * 8 + 83_653_863 * 4
        );
        assert_eq!(p.parts.len(), 3);
        assert_eq!(p.parts[1].params, 123_060_480, "ids are not parameters");
        assert!(
            p.reason
                .contains("diffusion 3.20 GiB (860 M parameters x 4 B)"),
            "{}",
            p.reason
        );
    }

    #[test]
    fn a_part_that_goes_to_vram_takes_no_ram_and_unlisted_parts_keep_their_dtype() {
        let tensors = [
            t("model.diffusion_model.w", "F16", 1000),
            t("x.w", "F32", 10),
        ];
        let f = LoadFacts {
            file: "m.safetensors",
            file_bytes: 2040,
            tensors: Some(&tensors),
            default_component: Component::Other,
            itemsize: &[(Component::Diffusion, 0)],
            measured_bytes: None,
        };
        let p = predict(&f);
        assert_eq!(p.bytes, 40);
        assert_eq!(p.parts[0].bytes, 0);
        assert_eq!(
            (p.parts[1].component, p.parts[1].load_itemsize),
            (Component::Other, 4)
        );
        assert!(p.reason.contains("diffusion 0 B (to VRAM)"), "{}", p.reason);
    }

    #[test]
    fn a_file_of_one_part_takes_the_loaders_kind() {
        let tensors = [t("decoder.conv_in.weight", "F32", 100)];
        let f = LoadFacts {
            file: "vae.safetensors",
            file_bytes: 400,
            tensors: Some(&tensors),
            default_component: Component::Vae,
            itemsize: &[(Component::Vae, 2)],
            measured_bytes: None,
        };
        let p = predict(&f);
        assert_eq!((p.parts[0].component, p.bytes), (Component::Vae, 200));
    }

    #[test]
    fn integer_tensors_are_counted_as_bytes_never_as_parameters() {
        // Only ids: no parameters, no dtype to name, and not "to VRAM".
        let ids = [t("cond_stage_model.position_ids", "I64", 77)];
        let f = LoadFacts {
            file: "ids.safetensors",
            file_bytes: 616,
            tensors: Some(&ids),
            default_component: Component::Other,
            itemsize: &[(Component::TextEncoder, 0)],
            measured_bytes: None,
        };
        let p = predict(&f);
        assert_eq!(
            (p.bytes, p.parts[0].params, p.parts[0].load_itemsize),
            (616, 0, 0)
        );
        assert!(!p.reason.contains("to VRAM"), "{}", p.reason);
        let p = predict(&LoadFacts { itemsize: &[], ..f });
        assert_eq!(p.parts[0].load_itemsize, 0, "no parameters: no dtype");
        // A listed dtype is what the part is loaded at, ids beside it or not.
        let mixed = [
            t("model.diffusion_model.w", "F16", 1000),
            t("model.diffusion_model.ids", "I64", 1000),
        ];
        let p = predict(&LoadFacts {
            tensors: Some(&mixed),
            itemsize: &[(Component::Diffusion, 4)],
            ..f
        });
        assert_eq!((p.bytes, p.parts[0].load_itemsize), (4000 + 8000, 4));
    }

    #[test]
    fn history_wins_and_no_header_is_twice_the_file() {
        let f = LoadFacts {
            file: "old.ckpt",
            file_bytes: 1 << 30,
            tensors: None,
            default_component: Component::Other,
            itemsize: &[],
            measured_bytes: None,
        };
        let p = predict(&f);
        assert_eq!((p.bytes, p.source.as_str()), (2 << 30, "file_size"));
        let p = predict(&LoadFacts {
            measured_bytes: Some(123 << 20),
            ..f
        });
        assert_eq!((p.bytes, p.source.as_str()), (123 << 20, "history"));
        assert!(p.reason.contains("123.00 MiB"), "{}", p.reason);
    }

    #[test]
    fn prefixes_name_the_parts() {
        assert_eq!(
            component_of("conditioner.embedders.0.x", Component::Other),
            Component::TextEncoder
        );
        assert_eq!(
            component_of("vae.decoder.x", Component::Other),
            Component::Vae
        );
        assert_eq!(
            component_of("lora_unet_x", Component::Other),
            Component::Other
        );
        assert_eq!(
            component_of("input_blocks.0", Component::Diffusion),
            Component::Diffusion
        );
    }
}
