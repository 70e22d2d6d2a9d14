"""``python -m jobport.cli``: the same entry point as the ``jobport`` script."""

from jobport.cli import main

main()
