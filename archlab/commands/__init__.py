"""One module per `archlab` subcommand; each has a click `command` and a `run(...)`."""
