//! The header of a `.safetensors` file: an 8-byte little-endian length, then that
//! many bytes of JSON naming each tensor's dtype, shape and byte range
//! (<https://github.com/huggingface/safetensors#format>). Only the header is read,
//! so a model's size per part is known before a byte of its weights is touched.
//! Written here rather than taken from the `safetensors` crate because that crate
//! needs the whole file (or a mapping of it) to validate offsets, and this needs
//! only the header's first bytes.

use serde_json::Value;

use crate::error::{Error, Result};

/// The largest header accepted (the format's own reference limit is 100 MB).
pub const MAX_HEADER_BYTES: u64 = 100 << 20;

/// One tensor of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// As written in the file: F16, BF16, F32, F64, F8_E4M3, I64, U8, BOOL...
    pub dtype: String,
    pub numel: u64,
    /// Bytes it takes in the file (end - begin of its data offsets).
    pub bytes: u64,
}

impl TensorInfo {
    /// Floating-point weights, which a loader may cast to another dtype.
    pub fn is_float(&self) -> bool {
        self.dtype.starts_with('F') || self.dtype.starts_with("BF")
    }
}

/// `Some(n)` when the file's first 8 bytes announce a header of `n` bytes within
/// the accepted size, else why not.
pub fn header_len(first8: &[u8], file: &str) -> Result<u64> {
    let bytes: [u8; 8] = first8
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed(file, "shorter than the 8-byte header length"))?;
    let n = u64::from_le_bytes(bytes);
    if !(2..=MAX_HEADER_BYTES).contains(&n) {
        return Err(malformed(
            file,
            &format!("header length {n} is not within 2..{MAX_HEADER_BYTES} bytes"),
        ));
    }
    Ok(n)
}

/// The tensors named by `header` (the JSON after the length), by name.
pub fn parse_header(header: &[u8], file: &str) -> Result<Vec<TensorInfo>> {
    let v: Value = serde_json::from_slice(header)
        .map_err(|e| malformed(file, &format!("header is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| malformed(file, "header is not a JSON object"))?;
    let mut out = Vec::with_capacity(obj.len());
    for (name, t) in obj {
        if name == "__metadata__" {
            continue;
        }
        out.push(tensor(name, t, file)?);
    }
    Ok(out)
}

fn tensor(name: &str, t: &Value, file: &str) -> Result<TensorInfo> {
    let bad = |what: &str| malformed(file, &format!("tensor {name:?}: {what}"));
    let dtype = t
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no dtype"))?;
    let shape = t
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no shape"))?;
    let mut numel: u64 = 1;
    for d in shape {
        let d = d
            .as_u64()
            .ok_or_else(|| bad("a dimension is not a count"))?;
        numel = numel.checked_mul(d).ok_or_else(|| bad("shape overflows"))?;
    }
    let offsets = t
        .get("data_offsets")
        .and_then(Value::as_array)
        .filter(|o| o.len() == 2)
        .ok_or_else(|| bad("data_offsets is not [begin, end]"))?;
    let (b, e) = match (offsets[0].as_u64(), offsets[1].as_u64()) {
        (Some(b), Some(e)) if b <= e => (b, e),
        _ => return Err(bad("data_offsets are not begin <= end")),
    };
    Ok(TensorInfo {
        name: name.to_string(),
        dtype: dtype.to_string(),
        numel,
        bytes: e - b,
    })
}

fn malformed(file: &str, detail: &str) -> Error {
    Error::Malformed {
        file: file.to_string(),
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v
    }

    #[test]
    fn reads_tensors_and_skips_metadata() {
        let h = r#"{"__metadata__":{"format":"pt"},
            "a.weight":{"dtype":"F16","shape":[320,4,3,3],"data_offsets":[0,23040]},
            "ids":{"dtype":"I64","shape":[1,77],"data_offsets":[23040,23656]}}"#;
        let f = file(h);
        let n = header_len(&f, "x").unwrap();
        assert_eq!(n as usize, h.len());
        let t = parse_header(&f[8..8 + n as usize], "x").unwrap();
        assert_eq!(t.len(), 2);
        let w = t.iter().find(|t| t.name == "a.weight").unwrap();
        assert_eq!((w.numel, w.bytes, w.is_float()), (11520, 23040, true));
        let ids = t.iter().find(|t| t.name == "ids").unwrap();
        assert_eq!((ids.numel, ids.bytes, ids.is_float()), (77, 616, false));
    }

    #[test]
    fn bf16_and_fp8_are_floating_point() {
        for d in ["BF16", "F8_E4M3", "F32", "F64"] {
            let t = TensorInfo {
                name: "w".into(),
                dtype: d.into(),
                numel: 1,
                bytes: 2,
            };
            assert!(t.is_float(), "{d}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_header() {
        assert!(header_len(b"abc", "f").is_err());
        assert!(header_len(&u64::MAX.to_le_bytes(), "f").is_err());
        assert!(header_len(&1u64.to_le_bytes(), "f").is_err());
        for bad in [
            "[]",
            "{\"a\":{\"shape\":[1],\"data_offsets\":[0,2]}}",
            "{\"a\":{\"dtype\":\"F16\",\"shape\":[-1],\"data_offsets\":[0,2]}}",
            "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[4,2]}}",
            "{\"a\":{\"dtype\":\"F16\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,2]}}",
            "not json",
        ] {
            let e = parse_header(bad.as_bytes(), "m.safetensors").unwrap_err();
            assert!(
                e.to_string().starts_with("malformed m.safetensors: "),
                "{bad}: {e}"
            );
        }
    }
}
