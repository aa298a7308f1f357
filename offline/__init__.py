"""Running the Pulumi program without a cloud: realistic AWS mocks and a recorder of what it declares.

Used by the offline plan (``offline/plan.py``), the unit tests and the replay on test hosts.
"""
