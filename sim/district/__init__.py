"""The district model (Mesa): agents, the model and its step schedule, the processes grouped by
actor, the collegial networks, the metrics and the virtual teacher survey.

The bottom layer of the package: it imports only :mod:`sim.config` and libraries.
"""
