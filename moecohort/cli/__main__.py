"""``python -m moecohort.cli``."""

from . import main

main()
