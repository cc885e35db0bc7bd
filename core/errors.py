"""User-facing errors: each message is one sentence naming the thing and the problem."""


class LabError(Exception):
    """A problem the user can act on; shown without a traceback."""


class DatasetError(LabError):
    """A dataset folder or archive that cannot be used."""


class ImageError(LabError):
    """A file that cannot be decoded as an image."""


class DownloadError(LabError):
    """A download that failed (offline, bad checksum, server error)."""


class ZipImportError(LabError):
    """A zip archive refused as unsafe or unusable."""


class WeightsError(LabError):
    """Pretrained weights that are not available."""


class RunError(LabError):
    """A run that does not exist, is not finished, or lost its files."""
