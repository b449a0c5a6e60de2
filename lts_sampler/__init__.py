"""lts-sampler: Latent Timbre Synthesis as a sampler.

Layers (DESIGN §2, README "Architecture"): :mod:`~lts_sampler.core` (numpy and the standard
library), :mod:`~lts_sampler.synthesis`, :mod:`~lts_sampler.kits`, :mod:`~lts_sampler.playing`
and the :mod:`~lts_sampler.faces`. The runtime never imports torch; training and export live
in :mod:`lts_sampler.training` (the repository's ``export/`` folder), which needs the
``train`` extra.
"""

from lts_sampler.core.errors import LtsError
from lts_sampler.core.spec import AudioSpec

__version__ = "0.2.0"

__all__ = ["AudioSpec", "LtsError", "__version__"]
