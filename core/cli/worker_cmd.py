"""`python -m core worker ...` (not yet implemented)."""


def register(subparsers):
    pass
