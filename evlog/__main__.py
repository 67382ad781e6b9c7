"""`python -m evlog` runs the command line."""

from evlog._cli import main

main()
