"""Node-side phases of cloud-exchange-ha: run on CE nodes with python3 only (see README)."""
