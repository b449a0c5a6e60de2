"""``lts-sampler tui``: the terminal UI (Textual) — pairs of sources, their banks, the kits
rendered from them, and a keyboard to play those kits. The app is :mod:`lts_sampler.tui.app`;
:mod:`lts_sampler.tui.job` (what a pair asks to render) needs no Textual."""
