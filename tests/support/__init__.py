"""Local servers the tests talk to instead of the internet."""
