import sys

from lts_sampler.cli import main

sys.exit(main())
