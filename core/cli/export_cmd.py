"""`python -m core export ...` (not yet implemented)."""


def register(subparsers):
    pass
