"""Write a full-size Stable Diffusion 1.5 checkpoint with random weights.

    python tests/e2e/sd_checkpoint.py COMFYUI_DIR OUT.safetensors [--dtype fp16|fp32] [--seed N]
        [--part checkpoint|unet|vae]

Run with the Python that runs ComfyUI: the layout (every tensor name and shape of
the UNet, the CLIP-L text encoder and the VAE, as ``CheckpointLoaderSimple`` expects
them in an SD1.5 ``.safetensors``) comes from ComfyUI's own model classes, built on
the ``meta`` device, so nothing is downloaded and no published weights are used.
The values are normal noise (std 0.02) from a fixed seed; fp16 gives a 2.1 GB file,
fp32 a 4.3 GB one, as the real checkpoints. ``--part unet`` / ``vae`` writes only
that part, named as a standalone file is (what ``UNETLoader`` / ``VAELoader``
load). The crash-prevention tests and benchmarks load them to fill memory the way a
real model does.

An existing OUT with the same size, dtype and seed (recorded in its metadata) is
kept as it is.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

LAYOUT_VERSION = "1"


def sd15_shapes(comfy_dir: Path) -> dict[str, tuple[list[int], bool]]:
    """Every tensor of an SD1.5 checkpoint: name -> (shape, floating point)."""
    sys.path.insert(0, str(comfy_dir))
    import torch
    from comfy.cli_args import args

    args.cpu = True  # model_management (imported below) must not look for a GPU
    import comfy.ops
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    from comfy.sd1_clip import SDClipModel

    ops = comfy.ops.disable_weight_init
    unet = UNetModel(
        image_size=32,
        in_channels=4,
        out_channels=4,
        model_channels=320,
        num_res_blocks=[2, 2, 2, 2],
        dropout=0,
        channel_mult=(1, 2, 4, 4),
        num_heads=8,
        use_spatial_transformer=True,
        transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0],
        transformer_depth_middle=1,
        transformer_depth_output=[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
        context_dim=768,
        use_linear_in_transformer=False,
        legacy=False,
        device="meta",
        operations=ops,
    )
    clip = SDClipModel(device="meta")
    ddconfig: dict[str, Any] = {
        "double_z": True,
        "z_channels": 4,
        "resolution": 256,
        "in_channels": 3,
        "out_ch": 3,
        "ch": 128,
        "ch_mult": [1, 2, 4, 4],
        "num_res_blocks": 2,
        "attn_resolutions": [],
        "dropout": 0.0,
    }
    with torch.device("meta"):
        vae = AutoencoderKL(ddconfig=ddconfig, embed_dim=4)
    out: dict[str, tuple[list[int], bool]] = {}
    for prefix, module in (
        ("model.diffusion_model.", unet),
        ("cond_stage_model.", clip),
        ("first_stage_model.", vae),
    ):
        for name, t in module.state_dict().items():
            out[prefix + name] = (list(t.shape), t.is_floating_point())
    return out


#: The prefix of each part in a checkpoint; a standalone file has none.
PARTS = {"checkpoint": None, "unet": "model.diffusion_model.", "vae": "first_stage_model."}


def write(comfy_dir: Path, path: Path, dtype_name: str, seed: int, part: str = "checkpoint") -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    meta = {
        "memwarden.layout": f"sd15/{LAYOUT_VERSION}/{part}",
        "memwarden.dtype": dtype_name,
        "memwarden.seed": str(seed),
    }
    if path.exists():
        try:
            with safe_open(str(path), framework="pt") as f:
                if f.metadata() == meta:
                    os.chmod(path, 0o644)
                    print(f"{path}: already there ({path.stat().st_size / 2**30:.2f} GiB)")
                    return
        except Exception:  # noqa: BLE001 - a broken file is written again
            pass
    dtype = {"fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    shapes = sd15_shapes(comfy_dir)
    prefix = PARTS[part]
    if prefix is not None:
        shapes = {k[len(prefix) :]: v for k, v in shapes.items() if k.startswith(prefix)}
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, (shape, floating) in sorted(shapes.items()):
        if not floating:  # position ids
            tensors[name] = torch.arange(shape[-1], dtype=torch.int64).expand(shape).contiguous()
            continue
        t = torch.empty(shape, dtype=torch.float32)
        t.normal_(0.0, 0.02, generator=g)
        tensors[name] = t.to(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    save_file(tensors, str(tmp), metadata=meta)
    os.chmod(tmp, 0o644)  # read by ComfyUI running as another user, too (tests/e2e/crash_e2e.py)
    os.replace(tmp, path)
    n = sum(t.numel() for t in tensors.values())
    print(f"{path}: {len(tensors)} tensors, {n / 1e6:.0f} M parameters, {path.stat().st_size / 2**30:.2f} GiB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("comfy_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--dtype", choices=["fp16", "fp32"], default="fp16")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--part", choices=sorted(PARTS), default="checkpoint")
    a = ap.parse_args()
    write(a.comfy_dir.resolve(), a.out, a.dtype, a.seed, a.part)
    return 0


if __name__ == "__main__":
    sys.exit(main())
