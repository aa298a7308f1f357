"""The cloud-exchange-ha CrossGuard policy pack (``rules`` is importable as ``policy.rules``)."""
