"""Developer tools run by ``make``: the generated doc tables (``make docs``) and mutation testing (``make mutate``).

The Pulumi program, the node agent and the policy pack never import them (import-linter contracts in pyproject.toml).
"""
