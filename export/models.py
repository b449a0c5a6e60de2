"""VAEs over constant-Q magnitude frames.

Every model takes and returns *linear* magnitudes ``[N, n_bins]``; any compression or
normalisation lives inside the model, so the exported ONNX graphs need no outside help
(DESIGN §4). ``forward`` returns the training loss, so DistributedDataParallel sees every
parameter; ``encode``/``decode`` are what export traces.

Architectures (``ARCHITECTURES``):

``lts``
    The published Latent Timbre Synthesis VAE, kept as the baseline: 384 → 2048 ReLU →
    (μ, log σ²) of 256; decoder 256 → 2048 ReLU → 384 ReLU; loss MSE + β·KL, β = 5·10⁻⁴.
    Inputs are divided by the training set's RMS magnitude.
``residual``
    The default. Probabilistic PCA of log-magnitude frames with a learned nonlinear
    residual on both sides: the linear paths start at the PCA of the training frames
    (whitened, so the N(0, I) prior fits), the residual MLPs start at zero, so training
    starts from the best linear model and early stopping can only keep or improve it.
    Loss: spectral convergence of the linear magnitude + log-magnitude MSE + β·KL.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

LOG_FLOOR = 1e-5
"""Added before taking logs, as in the log-spectral distance of DESIGN §7."""


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)), summed over latent dims, mean over frames."""
    return 0.5 * torch.mean(torch.sum(mu.pow(2) + logvar.exp() - 1.0 - logvar, dim=1))


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


class LtsVAE(nn.Module):
    """The LTS baseline (Tatar et al.): a one-hidden-layer VAE on scaled linear magnitudes."""

    def __init__(self, *, n_bins: int = 384, latent_dim: int = 256, hidden: int = 2048, beta: float = 5e-4):
        super().__init__()
        self.beta = beta
        self.register_buffer("scale", torch.ones(()))
        self.encoder_hidden = nn.Linear(n_bins, hidden)
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_bins), nn.ReLU()
        )

    @torch.no_grad()
    def fit_init(self, frames: np.ndarray) -> None:
        """Set the input scale to the training frames' RMS magnitude, so inputs are O(1).

        (Scaled by the peak instead, nearly every value is below 10⁻², and the ReLU output
        settles on zero: measured on the Sonic Pi set, SC 1.0 after 10 minutes.)
        """
        self.scale.fill_(float(np.sqrt(np.mean(np.square(frames, dtype=np.float64)))) or 1.0)

    def encode(self, magnitude: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.encoder_hidden(magnitude / self.scale))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z) * self.scale

    def forward(self, magnitude: torch.Tensor, *, sample: bool = True) -> tuple[torch.Tensor, dict]:
        mu, logvar = self.encode(magnitude)
        z = reparameterize(mu, logvar) if sample else mu
        x = magnitude / self.scale
        mse = torch.mean((self.decoder(z) - x) ** 2)
        kl = kl_divergence(mu, logvar)
        return mse + self.beta * kl, {"mse": mse.detach(), "kl": kl.detach()}


def _mlp(n_in: int, hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    """in → hidden GELU → out, last layer zero-initialised so it starts as nothing."""
    mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_out))
    nn.init.zeros_(mlp[-1].weight)
    nn.init.zeros_(mlp[-1].bias)
    return mlp


class ResidualVAE(nn.Module):
    """Probabilistic PCA of log-magnitudes plus a nonlinear residual (the default model).

    Encoder: L = log(x + 1e-5); μ = W_e (L − m) + r_e(L); log σ² from a linear head.
    Decoder: L̂ = m + W_d z + r_d(z); x̂ = max(exp(L̂) − 1e-5, 0), with L̂ clipped to the
    training range plus headroom so extrapolated latents cannot overflow.
    """

    def __init__(
        self,
        *,
        n_bins: int = 384,
        latent_dim: int = 256,
        hidden: int = 512,
        dropout: float = 0.1,
        beta: float = 1e-5,
        log_weight: float = 3.0,
    ):
        super().__init__()
        self.beta = beta
        self.log_weight = log_weight
        self.register_buffer("mean", torch.zeros(n_bins))
        self.register_buffer("log_max", torch.tensor(math.log(1e4)))
        self.encoder_linear = nn.Linear(n_bins, latent_dim, bias=False)
        self.encoder_residual = _mlp(n_bins, hidden, latent_dim, dropout)
        self.to_logvar = nn.Linear(n_bins, latent_dim)
        self.decoder_linear = nn.Linear(latent_dim, n_bins, bias=False)
        self.decoder_residual = _mlp(latent_dim, hidden, n_bins, dropout)
        nn.init.zeros_(self.to_logvar.weight)
        nn.init.constant_(self.to_logvar.bias, math.log(1e-2))

    @torch.no_grad()
    def fit_init(self, frames: np.ndarray) -> None:
        """Initialise the linear paths with the whitened PCA of the frames' log-magnitudes.

        frames : [N, n_bins] linear magnitudes of the training set.
        """
        logs = torch.from_numpy(np.log(frames.astype(np.float64) + LOG_FLOOR))
        mean = logs.mean(dim=0)
        centred = logs - mean
        covariance = centred.T @ centred / max(len(logs) - 1, 1)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
        k = self.encoder_linear.out_features
        order = torch.argsort(eigenvalues, descending=True)[:k]
        components = eigenvectors[:, order]  # [n_bins, k]
        std = eigenvalues[order].clamp_min(1e-8).sqrt()
        self.mean.copy_(mean)
        self.log_max.fill_(float(logs.max()) + math.log(4.0))
        self.encoder_linear.weight.copy_((components / std).T)
        self.decoder_linear.weight.copy_(components * std)

    def encode(self, magnitude: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logs = torch.log(magnitude.clamp_min(0) + LOG_FLOOR)
        mu = self.encoder_linear(logs - self.mean) + self.encoder_residual(logs - self.mean)
        return mu, self.to_logvar(logs - self.mean)

    def decode_log(self, z: torch.Tensor) -> torch.Tensor:
        """log(x̂ + 1e-5), shape [N, n_bins]."""
        logs = self.mean + self.decoder_linear(z) + self.decoder_residual(z)
        return torch.clamp(logs, max=self.log_max)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.exp(self.decode_log(z)) - LOG_FLOOR, min=0.0)

    def forward(self, magnitude: torch.Tensor, *, sample: bool = True) -> tuple[torch.Tensor, dict]:
        mu, logvar = self.encode(magnitude)
        z = reparameterize(mu, logvar) if sample else mu
        logs_hat = self.decode_log(z)
        estimate = torch.clamp(torch.exp(logs_hat) - LOG_FLOOR, min=0.0)
        sc = torch.linalg.norm(estimate - magnitude) / torch.linalg.norm(magnitude).clamp_min(1e-8)
        log_mse = torch.mean((logs_hat - torch.log(magnitude + LOG_FLOOR)) ** 2)
        kl = kl_divergence(mu, logvar)
        loss = sc + self.log_weight * log_mse + self.beta * kl
        return loss, {"sc": sc.detach(), "log_mse": log_mse.detach(), "kl": kl.detach()}


ARCHITECTURES = {"residual": ResidualVAE, "lts": LtsVAE}


def build_model(model_args: dict) -> nn.Module:
    """Rebuild a model from the plain ``model_args`` a checkpoint stores."""
    args = dict(model_args)
    return ARCHITECTURES[args.pop("arch")](**args)
