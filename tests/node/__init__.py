"""Local tests of the node-side phases (scripts/cenode): no hosts, loopback only."""
