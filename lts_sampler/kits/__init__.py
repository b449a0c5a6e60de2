"""Making kits (DESIGN §2): a render request planned, rendered and written as a kit folder.

Above synthesis and the core; the faces call it, the playing layer never does.
"""
