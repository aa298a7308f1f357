# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""The stand-in CE test double: ``make_repo`` builds its git repository (see tests/fakes/README.md)."""
