"""The check catalogue of SPEC section 7 and the machinery the pytest plugin runs it with."""
