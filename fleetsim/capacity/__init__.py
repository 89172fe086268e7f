"""Capacity planning: how many stations of a mix a CSMS serves within its SLOs.

A search (search.py) steps the fleet up and bisects; each step is measured on
its plateau and judged on SLOs (slo.py) by the driver (drive.py), which steers
a running fleet; capacity.json and its sentence (document.py).  Pure: the
driver reaches time only through the steering it is given.
"""
