"""``python -m memwarden ...`` runs the memwarden CLI (used as the external helper)."""

from ._cli import main

main()
