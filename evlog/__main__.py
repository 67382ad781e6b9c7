"""`python -m evlog` runs the command line."""

from evlog.cli import main

main()
