"""`python -m tf_deepgifs <command>`: see tf_deepgifs/cli.py."""

import sys

from tf_deepgifs.cli import main

if __name__ == "__main__":
    sys.exit(main())
