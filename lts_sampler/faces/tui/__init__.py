"""``lts-sampler tui``: the terminal UI (Textual) — pairs of sources, their banks, the kits
rendered from them, and a keyboard to play those kits. The app is :mod:`lts_sampler.faces.tui.app`;
:mod:`lts_sampler.faces.tui.job` (a pair as a render request, and the plan's errors in the
form's words) needs no Textual."""
