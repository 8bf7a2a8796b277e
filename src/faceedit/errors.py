"""User-facing errors.

Every problem caused by the user's input (a bad flag, a file that is not a checkpoint, an image with no face)
raises :class:`FaceEditError` with a one-line message. The CLI prints ``error: <message>`` and exits with a
non-zero status; the Python API lets the exception propagate.
"""


class FaceEditError(Exception):
    """An error whose message is meant for the user: one line, naming the problem."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
