import sys

from lts_sampler.faces.cli import main

sys.exit(main())
