"""Node-side phases of cloud-exchange-ha: run on CE nodes with python3 3.8 or later only (see README)."""
