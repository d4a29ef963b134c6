"""Run govcloud as `python -m govcloud`."""

from govcloud.cli import main

main()
