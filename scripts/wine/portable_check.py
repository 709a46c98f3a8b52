"""Run by scripts/test-windows-python inside the Windows embeddable CPython (what
ComfyUI portable ships as python_embeded), under Wine: the installed memwarden
wheel as ComfyUI portable would use it. Exits non-zero on the first failed check.

Arguments: the node pack's root folder (this checkout), as a Windows path.
"""

import importlib.util
import os
import sys

root = sys.argv[1]

import memwarden  # noqa: E402

site = os.path.dirname(os.path.dirname(os.path.abspath(memwarden.__file__)))
assert site.lower().endswith("lib\\site-packages"), memwarden.__file__
print("memwarden from", os.path.dirname(memwarden.__file__))

snap = memwarden.snapshot(top=5)
assert snap.kernel.startswith("Windows "), snap.kernel
assert snap.process is not None and snap.process.pid == os.getpid(), snap.process
assert snap.process.name.lower() == "python.exe", snap.process.name
assert snap.process.rss_bytes > 0 and snap.system.total_bytes > 0, snap.system
assert 0 < len(snap.top_processes.processes) <= 5, snap.top_processes
print("snapshot:", snap.status().status, "| top:", ", ".join(p.name for p in snap.top_processes.processes))

# The node pack's root __init__.py, loaded the way ComfyUI's load_custom_node does.
spec = importlib.util.spec_from_file_location("memwarden-pack", os.path.join(root, "__init__.py"))
assert spec is not None and spec.loader is not None
pack = importlib.util.module_from_spec(spec)
sys.modules["memwarden-pack"] = pack
spec.loader.exec_module(pack)
import memwarden.comfy as registry  # noqa: E402
from memwarden.comfy import nodes  # noqa: E402

assert pack.NODE_CLASS_MAPPINGS == registry.NODE_CLASS_MAPPINGS
names = sorted(registry.NODE_CLASS_MAPPINGS)
assert names == [
    "AutoMemoryCleanup",
    "MemoryCleanerForce",
    "MemoryCleanup",
    "MemoryLeakDetector",
    "MemoryMonitor",
    "SmartMemoryManager",
    "UnifiedMemoryManager",
    "VRAMOptimizer",
    "VRAMUnload",
], names
assert set(registry.NODE_DISPLAY_NAME_MAPPINGS) == set(names), names
print(f"{len(names)} nodes:", ", ".join(names))


def clean(check: bool) -> list[str]:
    """The Memory Cleaner (Force) node with the seed's settings, the page-file
    check on or off; its report's lines, after the checks every run passes."""
    out = nodes.MemoryCleanerForce().run(
        aggressive_trim=True,
        enable_privileges=True,
        external_helper=False,
        skip_trim_if_c_low=check,
        min_c_free_gb=1.0,
        purge_standby=False,
    )
    anything, text, freed = out["result"]
    assert out["ui"]["text"] == [text] and anything is None and isinstance(freed, float), out
    print(text)
    lines = text.splitlines()
    # No torch in this Python (as in a fresh portable install before ComfyUI's own
    # requirements): the cleaner says so and still runs the OS steps.
    torch_line = next(line for line in lines if line.startswith("[4/7]"))
    assert "torch is not loaded" in torch_line, torch_line
    assert "CLEANUP RESULTS:" in lines, lines
    assert not any("on Linux" in line for line in lines), lines
    return lines


assert importlib.util.find_spec("torch") is None, "torch is installed here"
# Check on: Wine configures no page file, so the swap check refuses the working-set
# trim (and says why); the heap is still compacted.
trim = next(line for line in clean(True) if line.startswith("[5/7]"))
assert "HeapCompact" in trim and "Skipping pageout" in trim, trim
# Check off: the trim runs, and the report names each privilege it asked for.
lines = clean(False)
trim = next(line for line in lines if line.startswith("[5/7]"))
assert "HeapCompact" in trim and "pageout: RSS" in trim, trim
privileges = [line for line in lines if line.startswith("  Privileges : ")]
assert len(privileges) == 1 and "SeIncreaseQuotaPrivilege=" in privileges[0], lines

monitor = nodes.MemoryMonitor().run(warning_threshold=99.0, detailed_report=True, top_processes=3)
status = monitor["result"][1]
assert status.startswith("RAM: "), status
print("Memory Monitor:", status, "| pressure", monitor["result"][5])
print("portable check: ok")
