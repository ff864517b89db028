"""Run the refinet-edge command line from a source checkout: ``python cli.py --help``.

The installed ``refinet-edge`` command runs the same application
(:mod:`refinet_edge.cli`); this file exists so a checkout works without
installing and so the CLI sits where the design card puts it.
"""

from refinet_edge.cli import main

if __name__ == "__main__":
    main()
