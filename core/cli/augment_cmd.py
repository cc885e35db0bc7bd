"""`python -m core augment ...` (not yet implemented)."""


def register(subparsers):
    pass
