"""Buildfacts: one module per language behind one Protocol (base.py), listed in registry.py."""
