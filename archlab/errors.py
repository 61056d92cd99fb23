"""The lab's own errors: each message tells the user what went wrong and what to do."""


class LabError(Exception):
    """A failure the user can act on; the CLI prints its message without a traceback."""


class DatabaseUnavailable(LabError):
    """No PostgreSQL to run the stack on: neither server binaries nor a database URL."""


class UnknownArchitecture(LabError):
    """The architecture named on the command line is not one the lab knows."""


class StackAlreadyRunning(LabError):
    """A stack already runs (or was left behind) at this port base."""


class NoStackRunning(LabError):
    """The command needs a running stack and there is none at this port base."""


class StackNotReady(LabError):
    """A stack did not become healthy in time; the message names the log to read."""
