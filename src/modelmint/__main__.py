import sys

from modelmint.cli import main

sys.exit(main())
