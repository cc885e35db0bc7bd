"""`python -m core predict ...` (not yet implemented)."""


def register(subparsers):
    pass
