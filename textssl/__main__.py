import sys

from textssl.cli import main

sys.exit(main())
