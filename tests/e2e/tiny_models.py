"""Write small, randomly initialised TAESD models for the end-to-end test.

    python tests/e2e/tiny_models.py MODELS_DIR

Run with the Python that runs ComfyUI (it has torch and safetensors). Writes
``MODELS_DIR/vae_approx/{taesd,taesdxl}_{encoder,decoder}.safetensors``: the file
names and tensor layout of the published TAESD weights (madebyollin/taesd), so
ComfyUI's own ``VAELoader`` offers them as the "taesd" and "taesdxl" VAEs and
``VAEDecode`` loads them through ``comfy.model_management``. The weights are
PyTorch's default initialisation from a fixed seed: nothing is downloaded, and each
model is about 10 MB.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn


def conv(n_in: int, n_out: int, **kwargs: Any) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kwargs)


class Clamp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


class Block(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(conv(n_in, n_out), nn.ReLU(), conv(n_out, n_out), nn.ReLU(), conv(n_out, n_out))
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
        self.fuse = nn.ReLU()


def encoder(latent_channels: int = 4) -> nn.Sequential:
    return nn.Sequential(
        conv(3, 64), Block(64, 64),
        conv(64, 64, stride=2, bias=False), Block(64, 64), Block(64, 64), Block(64, 64),
        conv(64, 64, stride=2, bias=False), Block(64, 64), Block(64, 64), Block(64, 64),
        conv(64, 64, stride=2, bias=False), Block(64, 64), Block(64, 64), Block(64, 64),
        conv(64, latent_channels),
    )  # fmt: skip


def decoder(latent_channels: int = 4) -> nn.Sequential:
    return nn.Sequential(
        Clamp(), conv(latent_channels, 64), nn.ReLU(),
        Block(64, 64), Block(64, 64), Block(64, 64), nn.Upsample(scale_factor=2), conv(64, 64, bias=False),
        Block(64, 64), Block(64, 64), Block(64, 64), nn.Upsample(scale_factor=2), conv(64, 64, bias=False),
        Block(64, 64), Block(64, 64), Block(64, 64), nn.Upsample(scale_factor=2), conv(64, 64, bias=False),
        Block(64, 64), conv(64, 3),
    )  # fmt: skip


#: ComfyUI's VAELoader name -> latent channels (both SD1.x and SDXL TAESD use 4).
MODELS = {"taesd": 4, "taesdxl": 4}


def write(models_dir: Path) -> list[Path]:
    out = models_dir / "vae_approx"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for seed, (name, channels) in enumerate(MODELS.items()):
        torch.manual_seed(seed)
        for part, net in (("encoder", encoder(channels)), ("decoder", decoder(channels))):
            path = out / f"{name}_{part}.safetensors"
            save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
            written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for p in write(Path(sys.argv[1])):
        print(f"{p} ({p.stat().st_size / 2**20:.1f} MiB)")
