"""The ``memwarden`` console script installed by the wheel: the Rust CLI itself."""

from __future__ import annotations

import sys

import memwarden._native as _native  # noqa: PLR0402 - the extension module itself, not the package namespace


def main() -> None:
    sys.stdout.flush()
    code = _native.run_cli(["memwarden", *sys.argv[1:]])
    sys.exit(code)


if __name__ == "__main__":
    main()
