"""``python -m socialsim``: the socialsim command line."""

from socialsim.cli import main

main()
