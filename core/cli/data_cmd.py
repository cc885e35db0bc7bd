"""`python -m core data ...` (not yet implemented)."""


def register(subparsers):
    pass
