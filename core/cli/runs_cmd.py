"""`python -m core runs ...` (not yet implemented)."""


def register(subparsers):
    pass
