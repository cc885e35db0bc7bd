"""`python -m core evaluate ...` (not yet implemented)."""


def register(subparsers):
    pass
