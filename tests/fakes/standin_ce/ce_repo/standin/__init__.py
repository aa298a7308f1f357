# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""Helpers of the stand-in CE repository, written from the documented behaviour only."""
