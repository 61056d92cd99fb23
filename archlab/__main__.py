"""`python -m archlab` runs the command line."""

from archlab.cli import main

main()
