//! The tensors of a model file, from its safetensors header alone (the weights are
//! not read).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::parse::safetensors::{header_len, parse_header, TensorInfo};

/// The file's size and, for a `.safetensors` / `.sft` file, its tensors (None for
/// another format: `.ckpt`, `.pt`, `.bin` have no header to read).
pub fn read_model_file(path: &Path) -> Result<(u64, Option<Vec<TensorInfo>>)> {
    let shown = path.display().to_string();
    let mut f = File::open(path).map_err(|e| Error::io(format!("cannot open {shown}"), e))?;
    let size = f
        .metadata()
        .map_err(|e| Error::io(format!("cannot stat {shown}"), e))?
        .len();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("safetensors" | "sft")) {
        return Ok((size, None));
    }
    let mut first8 = [0u8; 8];
    f.read_exact(&mut first8)
        .map_err(|e| Error::io(format!("cannot read {shown}"), e))?;
    let n = header_len(&first8, &shown)?;
    if n + 8 > size {
        return Err(Error::malformed(
            shown,
            format!("header of {n} bytes is longer than the file ({size} bytes)"),
        ));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|e| Error::io(format!("cannot read {shown}"), e))?;
    Ok((size, Some(parse_header(&header, &shown)?)))
}
