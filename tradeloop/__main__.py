import sys

from tradeloop.cli import main

sys.exit(main())
