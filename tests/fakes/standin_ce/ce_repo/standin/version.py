# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""The release this checkout of the stand-in pretends to be (make_repo rewrites it per tag)."""

CE_VERSION = "5.1.2"
