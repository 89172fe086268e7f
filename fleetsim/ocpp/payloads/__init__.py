"""OCPP 1.6 payloads, one module per feature profile.  Each module ends with a
``SPECS`` tuple describing its actions (see :mod:`fleetsim.ocpp.actions`)."""
