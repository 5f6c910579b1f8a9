"""The first-response children (bench/first_response.py): the driver and the baselines."""
