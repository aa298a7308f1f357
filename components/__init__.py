"""Pulumi components of cloud-exchange-ha, one concern per module (see README)."""
