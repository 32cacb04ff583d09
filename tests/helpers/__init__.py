"""What tests share: data builders, loopback servers, process launchers, sample documents.

Fixtures live in ``tests/conftest.py``; plain helpers here. No test module imports another.
"""
