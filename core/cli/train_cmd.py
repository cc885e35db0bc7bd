"""`python -m core train ...` (not yet implemented)."""


def register(subparsers):
    pass
