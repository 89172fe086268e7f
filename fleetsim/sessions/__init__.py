"""Charging sessions: who arrives at which connector, when, with which EV, and
what they do there.  Pure and seeded: the same seed gives the same sessions."""
