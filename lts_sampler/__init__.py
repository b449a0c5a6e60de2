"""lts-sampler: Latent Timbre Synthesis as a sampler.

The runtime (this package) runs exported models in onnxruntime and never imports torch;
training and export live in :mod:`lts_sampler.training` (the repository's ``export/``
folder), which needs the ``train`` extra.
"""

from lts_sampler.errors import LtsError
from lts_sampler.spec import AudioSpec

__version__ = "0.2.0"

__all__ = ["AudioSpec", "LtsError", "__version__"]
