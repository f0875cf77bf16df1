"""Errors a user can cause and fix. The command line prints them as one line, never a traceback."""


class UserError(Exception):
    """A problem with the user's input or environment: printed as one line, exit code `exit_code`."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ProtocolError(UserError):
    """One or more problems in a protocol or config file; each line is `FILE:LINE: field: problem`."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class DeviceError(UserError):
    """A device (serial port, sound card) is missing or busy."""

    exit_code = 3
