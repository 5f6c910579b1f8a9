"""The cold-start children (bench/cold_start.py): the driver and the floor's parts."""
