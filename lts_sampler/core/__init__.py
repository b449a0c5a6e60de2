"""The core: contracts in numpy and the standard library only (DESIGN §2).

Errors, atomic writes, the audio spec, mixing weights, the pad's geometry, a bank's
ingredients and the kit format (SFZ, kit.json, key maps, crossfade points). Every other
layer may import it; it imports none of them.
"""
