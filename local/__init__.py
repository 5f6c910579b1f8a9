"""Docker-free local runner of the SAM bundle (a development tool; ships in no Lambda)."""
