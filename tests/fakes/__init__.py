# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""Test doubles: the stand-in CE repository (standin_ce) and its own tests."""
