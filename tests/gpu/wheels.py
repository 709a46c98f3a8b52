"""Checks the wheels `scripts/gpu-check prepare` carries to the GPU machine.

    python tests/gpu/wheels.py WHEEL_DIR

The GPU machine has Python 3.12 with PyTorch (CUDA) and the packages in
:data:`DEVICE_PACKAGES`, and nothing can be installed there from a registry: every
package ComfyUI needs that it lacks travels as a wheel. This checks, before anything
travels, that each carried wheel is one version of one project, that it installs on
CPython 3.12 for Linux x86_64, and that every requirement it declares (extras left
out, markers judged for CPython 3.12 on Linux x86_64) is carried too or already on
the machine. Exit status 0 when all hold, 1 (naming what is wrong) otherwise.
"""

from __future__ import annotations

import importlib
import re
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

#: The Python packages of the GPU machine's image (its published list, read in
#: November 2026), normalized as in PEP 503. Versions are not listed there: a carried
#: package that needs a newer one than the image has fails at import on the machine,
#: and the check's report says so.
DEVICE_PACKAGES = frozenset(
    """
    absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch
    build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage
    cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn
    einops equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec
    gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio
    iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib
    kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml
    markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack
    multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda
    numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
    nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse
    nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13
    nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum
    opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft pillow pip
    pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo
    pygments pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout
    pytest-xdist python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
    scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers
    setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
    tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
    torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
    triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt
    xarray xxhash yarl zipp
    """.split()
)

#: The machine's Python, as markers see it.
MARKER_ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.3",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.12.3",
    "python_version": "3.12",
    "sys_platform": "linux",
    "extra": "",
}

#: Wheel tags that install on CPython 3.12, Linux x86_64 with glibc 2.35 or newer.
INTERPRETERS = ("py3", "py312", "cp312", "cp3", "cp39", "cp38", "cp37", "cp36", "cp310", "cp311", "py2.py3")
_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_x86_64$")
_LEGACY = {"manylinux1_x86_64": (2, 5), "manylinux2010_x86_64": (2, 12), "manylinux2014_x86_64": (2, 17)}
MAX_GLIBC = (2, 35)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _packaging(module: str) -> Any:
    """``packaging.<module>``, or the copy every pip carries."""
    try:
        return importlib.import_module(f"packaging.{module}")
    except ImportError:
        return importlib.import_module(f"pip._vendor.packaging.{module}")


def platform_fits(tag: str) -> bool:
    if tag == "any":
        return True
    if tag in _LEGACY:
        return _LEGACY[tag] <= MAX_GLIBC
    m = _MANYLINUX.match(tag)
    return m is not None and (int(m.group(1)), int(m.group(2))) <= MAX_GLIBC


def installs_here(filename: str) -> bool:
    """Whether a wheel's file name has a tag CPython 3.12 on Linux x86_64 takes."""
    parts = filename[: -len(".whl")].split("-")
    if len(parts) < 5:
        return False
    pythons, abis, platforms = parts[-3].split("."), parts[-2].split("."), parts[-1].split(".")
    python_ok = any(p in INTERPRETERS for p in pythons)
    abi_ok = any(a in ("none", "abi3", "cp312") for a in abis)
    return python_ok and abi_ok and any(platform_fits(p) for p in platforms)


def metadata(wheel: Path) -> tuple[str, str, list[str]]:
    """(name, version, Requires-Dist lines) from a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        msg = HeaderParser().parsestr(z.read(meta).decode("utf-8", "replace"))
    return str(msg["Name"]), str(msg["Version"]), [str(r) for r in msg.get_all("Requires-Dist") or []]


def needed(requirement: str) -> str | None:
    """The normalized project a Requires-Dist line needs on the machine, or None
    (an extra's, or a marker that is false there)."""
    req = _packaging("requirements").Requirement(requirement)
    if req.marker is not None:
        marker = str(req.marker)
        if "extra" in marker:
            return None
        if not req.marker.evaluate(MARKER_ENV):
            return None
    return normalize(str(req.name))


def check(wheel_dir: Path) -> list[str]:
    """What is wrong with the carried wheels (empty: nothing)."""
    wheels = sorted(wheel_dir.glob("*.whl"))
    problems: list[str] = []
    carried: dict[str, str] = {}
    requires: dict[str, list[str]] = {}
    for w in wheels:
        if not installs_here(w.name):
            problems.append(f"{w.name}: no tag for CPython 3.12 on Linux x86_64 (glibc <= 2.35)")
        name, version, reqs = metadata(w)
        key = normalize(name)
        if key in carried:
            problems.append(f"two versions of {name}: {carried[key]} and {version} (pip refuses to install both)")
        carried[key] = version
        if key in DEVICE_PACKAGES:
            print(f"  note: {name} {version} is carried although the machine has a {name} (the carried one wins)")
        requires[key] = [r for r in (needed(x) for x in reqs) if r is not None]
    for key, reqs in sorted(requires.items()):
        for r in reqs:
            if r not in carried and r not in DEVICE_PACKAGES:
                problems.append(f"{key} needs {r}, which is neither carried nor on the GPU machine")
    return problems


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    wheel_dir = Path(sys.argv[1])
    problems = check(wheel_dir)
    for p in problems:
        print(f"  FAIL {p}")
    n = len(list(wheel_dir.glob("*.whl")))
    print(f"  {n} wheels checked: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
