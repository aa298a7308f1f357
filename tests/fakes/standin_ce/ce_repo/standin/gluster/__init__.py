# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""Stand-in GlusterFS (``gluster``, ``glusterd``, ``glusterfs``) for the 6.x line of the double."""
