"""Maillage: who covers this address? The domain.

Territories, partners and their coverage, the lookup, geocoding, gap analysis, maps and the exchange
formats live in this package and import neither Flask nor click (tests/test_architecture.py). The
web (app/web/) and the command line (app/cli/) are thin shells around it; docs/ARCHITECTURE.md
draws the layout.
"""
